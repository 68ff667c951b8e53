using GraphEngine.Kernels;

namespace GraphEngine.Hosting;

/// <summary>
/// Output directories checked before any work starts (bench, profile): a run whose results can't be written
/// is refused at once with one line, instead of failing after minutes of GPU time. The check creates nothing
/// that outlives it, so a run refused by a later check (a bad input file, a preset too large for the backend)
/// leaves no empty directory behind; the writers create the directory when they write the results.
/// </summary>
public static class OutputDirectory
{
    /// <summary>
    /// Makes sure <paramref name="path"/> is, or can be created as, a directory the given files can be written to:
    /// an existing directory gets a probe file written and deleted in it; a missing one needs its nearest existing
    /// ancestor to be a directory that takes a probe subdirectory (made and removed again). Returns the path as given.
    /// </summary>
    public static string Prepare(string path, string option, IReadOnlyList<string> files)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new UsageException($"{option} is empty: give a directory for {string.Join(", ", files)}");
        string full = FullPath(path, option);
        if (File.Exists(full))
            throw new UsageException($"{option} {InputText.Quote(path)} is an existing file; give a directory for {string.Join(", ", files)}");
        try
        {
            if (Directory.Exists(full))
            {
                foreach (var name in files)
                    if (Directory.Exists(Path.Combine(full, name)))
                        throw new UsageException($"{option} {InputText.Quote(path)} holds a directory named {name} where that file goes");
                string probe = Path.Combine(full, ProbeName());
                File.WriteAllBytes(probe, new byte[] { 0 });
                File.Delete(probe);
                return path;
            }
            var ancestor = new DirectoryInfo(full).Parent;
            while (ancestor is not null && !ancestor.Exists && !File.Exists(ancestor.FullName)) ancestor = ancestor.Parent;
            if (ancestor is null)
                throw new UsageException($"{option} {InputText.Quote(path)} is not a writable directory: no part of it exists");
            if (File.Exists(ancestor.FullName))
                throw new UsageException($"{option} {InputText.Quote(path)} is not a writable directory: {InputText.Quote(ancestor.FullName)} is a file");
            var probeDir = Directory.CreateDirectory(Path.Combine(ancestor.FullName, ProbeName()));
            probeDir.Delete();
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} {InputText.Quote(path)} is not a writable directory: {InputText.OneLine(e.Message)}", e);
        }
    }

    private static string ProbeName() => $".graphengine-probe-{Guid.NewGuid():N}";

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
}
