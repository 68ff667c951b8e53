namespace GraphEngine.Hosting;

/// <summary>
/// The process's resident memory from /proc/self/status (Linux): VmRSS now and VmHWM, the peak since start or since
/// <see cref="ResetPeak"/>. The load line reports the peak above the resident set before loading, which is what a
/// checkpoint's size must not drive up (the uploader streams through one staging buffer). Elsewhere (no /proc) the
/// values are null and the line leaves them out.
/// </summary>
public static class HostMemory
{
    private const string Status = "/proc/self/status";

    /// <summary>Resets VmHWM to the current VmRSS (writing 5 to /proc/self/clear_refs, Linux 4.0+); false where that is not possible.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>VmRSS in bytes, or null without /proc.</summary>
    public static long? Resident() => Read("VmRSS:");

    /// <summary>VmHWM (peak resident) in bytes, or null without /proc.</summary>
    public static long? Peak() => Read("VmHWM:");

    private static long? Read(string key)
    {
        if (!File.Exists(Status)) return null;
        foreach (var line in File.ReadLines(Status))
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.TryParse(parts[0], out long kb) ? kb * 1024 : null;
            }
        return null;
    }
}
