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
    /// an existing directory gets a probe file written and deleted in it; a missing one is made with a probe file in
    /// it and removed again, up to the topmost directory this call made. Returns the path as given.
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
            // The directory itself is made and probed, so every reason it could not be (a name or path too long, a
            // read-only mount, an ancestor that is a file) shows now; then everything made here is removed again.
            string? created = null;
            for (var d = new DirectoryInfo(full); d is not null && !d.Exists; d = d.Parent)
            {
                if (File.Exists(d.FullName))
                    throw new UsageException($"{option} {InputText.Quote(path)} is not a writable directory: {InputText.Quote(d.FullName)} is a file");
                created = d.FullName;
            }
            try
            {
                Directory.CreateDirectory(full);
                File.WriteAllBytes(Path.Combine(full, ProbeName()), new byte[] { 0 });
            }
            finally
            {
                if (created is not null && Directory.Exists(created)) Directory.Delete(created, recursive: true);
            }
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} {InputText.Quote(path)} is not a writable directory: {Why(e, full)}", e);
        }
    }

    // .NET's messages quote the whole path, which for a too-long one is the very text that must not fill the line.
    private static string Why(Exception e, string full) => e is PathTooLongException
        ? "a name in it or the whole path is longer than the file system allows"
        : InputText.OneLine(e.Message.Replace(full, "it", StringComparison.Ordinal));

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
