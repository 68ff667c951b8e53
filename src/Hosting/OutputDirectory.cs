using GraphEngine.Kernels;

namespace GraphEngine.Hosting;

/// <summary>
/// Output directories checked before any work starts (bench, profile): a run whose results can't be written
/// is refused at once with one line, instead of failing after minutes of GPU time.
/// </summary>
public static class OutputDirectory
{
    /// <summary>
    /// Makes sure <paramref name="path"/> is a directory the given files can be written to: creates it when
    /// missing and writes and deletes a probe file in it. On failure nothing it created is left behind.
    /// Returns the path as given.
    /// </summary>
    public static string Prepare(string path, string option, IReadOnlyList<string> files)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new UsageException($"{option} is empty: give a directory for {string.Join(", ", files)}");
        string full = FullPath(path, option);
        if (File.Exists(full))
            throw new UsageException($"{option} {InputText.Quote(path)} is an existing file; give a directory for {string.Join(", ", files)}");

        // The topmost directory this call creates, removed again if the directory turns out unusable.
        string? created = null;
        for (var d = new DirectoryInfo(full); d is not null && !d.Exists; d = d.Parent) created = d.FullName;
        try
        {
            Directory.CreateDirectory(full);
            foreach (var name in files)
                if (Directory.Exists(Path.Combine(full, name)))
                    throw new UsageException($"{option} {InputText.Quote(path)} holds a directory named {name} where that file goes");
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

    /// <summary>The absolute path, or a one-line UsageException naming <paramref name="option"/>.</summary>
    public static string FullPath(string path, string option)
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
