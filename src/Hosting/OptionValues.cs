using GraphEngine.Graph;
using GraphEngine.Kernels;

namespace GraphEngine.Hosting;

/// <summary>
/// The parsers of the commands' own switches (--jobs, --reps, --steps, --modes, --filter ...), each on top of the
/// engine's <see cref="SettingParsers"/>, so a number or a list reads the same whichever command or setting takes it
/// and every refusal is one <see cref="UsageException"/> line naming the value and the switch.
/// </summary>
public static class OptionValues
{
    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>] (SettingParsers.ParseInt's rules).</summary>
    public static int Int(string text, string option, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            return SettingParsers.ParseInt(text, option, option, min, max);
        }
        catch (EngineConfigurationException e)
        {
            throw new UsageException(e.Message, e);
        }
    }

    /// <summary>
    /// A comma-separated list of names out of <paramref name="known"/> (case-insensitive, returned as spelled there),
    /// each once and in the order given; an empty list, an empty entry or an unknown name is refused.
    /// </summary>
    public static string[] Names(string text, string option, string what, IReadOnlyList<string> known)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<string>();
        foreach (var entry in text.Split(','))
        {
            string t = entry.Trim();
            if (t.Length == 0)
                throw new UsageException($"{option} {InputText.Quote(text)} has an empty entry; accepted {what}s, comma-separated: {string.Join(", ", known)}");
            string? name = known.FirstOrDefault(k => k.Equals(t, StringComparison.OrdinalIgnoreCase))
                ?? throw new UsageException($"unknown {what} {InputText.Quote(t)} (from {option}); accepted: {string.Join(", ", known)}");
            if (!result.Contains(name)) result.Add(name);
        }
        return result.ToArray();
    }

    /// <summary>
    /// A --filter: comma-separated substrings, or null when the switch is absent (everything runs). Given but naming no
    /// substring ("", ","), it is refused: that is an unset shell variable, not a request to run everything.
    /// </summary>
    public static string? Filter(string? text, string option)
    {
        if (text is null) return null;
        if (text.Split(',').All(p => p.Trim().Length == 0))
            throw new UsageException($"{option} {InputText.Quote(text)} names no substring; give comma-separated parts of names, or leave {option} out to run everything");
        return text;
    }

    /// <summary>
    /// An input file given by a switch: it must exist and not be a directory; with <paramref name="seekable"/> it must
    /// also be a regular file, for readers that would wait for ever on a FIFO (a Python script) or read at offsets.
    /// </summary>
    public static void RequireFile(string path, string option, bool seekable = false)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} is empty: give the path of a file");
        string full = OutputDirectory.FullPath(path, option);
        if (Directory.Exists(full)) throw new UsageException($"{option} {InputText.Quote(path)} is a directory, not a file");
        if (!File.Exists(full)) throw new UsageException($"{option} {InputText.Quote(path)} does not exist (looked for {InputText.Quote(full)})");
        if (!seekable) return;
        try
        {
            using var handle = InputFile.OpenRead(full);
            if (!InputFile.IsSeekable(handle))
                throw new UsageException($"{option} {InputText.Quote(path)} is not a regular file (a FIFO, pipe or socket)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} {InputText.Quote(path)} cannot be read: {InputText.OneLine(e.Message)}", e);
        }
    }
}
