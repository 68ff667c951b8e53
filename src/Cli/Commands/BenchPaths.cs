using GraphEngine.Hosting;
using GraphEngine.Kernels;

namespace GraphEngine.Cli.Commands;

/// <summary>The bench command's paths, checked before any work: a report that cannot be written is known at once.</summary>
internal static class BenchPaths
{
    /// <summary>The files the report writers create in the output directory.</summary>
    public static readonly string[] ReportFiles = { "bench.json", "bench.md", "bench.svg" };

    /// <summary>
    /// Makes sure <paramref name="path"/> is a directory the report can be written to: creates it when
    /// missing and writes and deletes a probe file in it. On failure nothing it created is left behind.
    /// Returns the path as given.
    /// </summary>
    public static string PrepareOutDir(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new UsageException($"{option} is empty: give a directory for {string.Join(", ", ReportFiles)}");
        string full = FullPath(path, option);
        if (File.Exists(full))
            throw new UsageException($"{option} {InputText.Quote(path)} is an existing file; give a directory for {string.Join(", ", ReportFiles)}");

        // The topmost directory this call creates, removed again if the directory turns out unusable.
        string? created = null;
        for (var d = new DirectoryInfo(full); d is not null && !d.Exists; d = d.Parent) created = d.FullName;
        try
        {
            Directory.CreateDirectory(full);
            foreach (var name in ReportFiles)
                if (Directory.Exists(Path.Combine(full, name)))
                    throw new UsageException($"{option} {InputText.Quote(path)} holds a directory named {name} where the report file goes");
            string probe = Path.Combine(full, $".graphengine-probe-{Guid.NewGuid():N}");
            File.WriteAllBytes(probe, new byte[] { 0 });
            File.Delete(probe);
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or UsageException)
        {
            if (created is not null) TryDelete(created);
            if (e is UsageException) throw;
            throw new UsageException($"{option} {InputText.Quote(path)} is not a writable directory: {InputText.OneLine(e.Message)}", e);
        }
    }

    /// <summary>An input file given by a switch must exist and be a file.</summary>
    public static void RequireFile(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} is empty: give the path of a file");
        string full = FullPath(path, option);
        if (Directory.Exists(full)) throw new UsageException($"{option} {InputText.Quote(path)} is a directory, not a file");
        if (!File.Exists(full)) throw new UsageException($"{option} {InputText.Quote(path)} does not exist (looked for {InputText.Quote(full)})");
    }

    private static string FullPath(string path, string option)
    {
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UsageException($"{option} {InputText.Quote(path)} is not a valid path: {InputText.OneLine(e.Message)}", e);
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: it was empty when created; a concurrent writer may have claimed it.
        }
    }
}
