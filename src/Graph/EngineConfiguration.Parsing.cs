using System.Globalization;
using GraphEngine.Kernels;

namespace GraphEngine.Graph;

/// <summary>
/// The one parser of each kind of setting, used by the engine, the CLI and the bench command line alike,
/// so a value is accepted or refused the same way wherever it is read. Every error is an
/// <see cref="EngineConfigurationException"/> naming the value (cut to a readable length) and its origin
/// (a switch, an environment variable, a key of a file).
/// </summary>
public static class SettingParsers
{
    /// <summary>
    /// true/false/1/0 (case-insensitive, trimmed); FastDeploy's FD_ flags (<paramref name="zeroOrOne"/>) take only 1 or 0.
    /// </summary>
    public static bool ParseBool(string text, string name, string origin, bool zeroOrOne = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        if (t == "1") return true;
        if (t == "0") return false;
        if (!zeroOrOne)
        {
            if (t.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
            if (t.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
        }
        string accepted = zeroOrOne ? "0 or 1" : "true, false, 1 or 0";
        throw new EngineConfigurationException($"invalid value {InputText.Quote(text)} for {name} in {origin}: expected {accepted}");
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>]; out-of-range values (2147483648 too) say so, with the range.</summary>
    public static int ParseInt(string text, string name, string origin, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        string range = max == int.MaxValue ? $">= {min}" : $"in [{min}, {max}]";
        string digits = t.StartsWith('-') ? t[1..] : t;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
            throw new EngineConfigurationException($"{name} {InputText.Quote(text)} (from {origin}) is not a whole number; expected a value {range}");
        if (!long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) || v < min || v > max)
            throw new EngineConfigurationException($"{name} {InputText.Quote(text)} (from {origin}) is out of range: expected a value {range}");
        return (int)v;
    }

    /// <summary>
    /// A comma-separated list of counts (graph sizes, token counts): every entry trimmed and parsed with
    /// <see cref="ParseInt"/> in [<paramref name="min"/>, <paramref name="max"/>]. Empty entries and an
    /// empty list are errors. Order and duplicates are kept; callers sort or deduplicate.
    /// </summary>
    public static List<int> ParseCountList(string text, string name, string origin, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
            throw new EngineConfigurationException($"{name} is empty (from {origin}): list at least one value");
        var parts = text.Split(',');
        var result = new List<int>(parts.Length);
        for (int i = 0; i < parts.Length; i++)
        {
            string where = parts.Length > 1 ? $"{origin}, entry {i + 1} of {InputText.Quote(text)}" : origin;
            result.Add(ParseCount(parts[i], name, where, min, max));
        }
        return result;
    }

    /// <summary>One entry of a count list: what <see cref="ParseCountList"/> checks per entry.</summary>
    public static int ParseCount(string entry, string name, string origin, int min, int max)
    {
        string t = entry.Trim();
        if (t.Length == 0)
            throw new EngineConfigurationException($"empty {name} entry (from {origin}): values are separated by single commas");
        string digits = t.StartsWith('-') ? t[1..] : t;
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit))
        {
            string hint = t.Any(c => c is ';' or ' ' or ':' or '|' or '/' or '\t') ? " (separate values with commas only)" : "";
            throw new EngineConfigurationException($"{name} {InputText.Quote(t)} (from {origin}) is not a whole number{hint}");
        }
        return ParseInt(t, name, origin, min, max);
    }
}
