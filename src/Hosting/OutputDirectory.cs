namespace GraphEngine.Hosting;

/// <summary>Checks an output directory before any work starts, so a long run never ends in a failed write.</summary>
public static class OutputDirectory
{
    /// <summary>Creates <paramref name="dir"/> if needed and proves it writable, or throws a one-line UsageException naming <paramref name="source"/>.</summary>
    public static void RequireWritable(string dir, string source)
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new UsageException($"{source}: an empty path is not a directory");
        if (File.Exists(dir)) throw new UsageException($"{source} '{UsageText.Clip(dir)}' is a file, not a directory");
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".graphengine-write-probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new UsageException($"{source} '{UsageText.Clip(dir)}' is not a writable directory ({e.Message.ReplaceLineEndings(" ")})");
        }
    }
}
