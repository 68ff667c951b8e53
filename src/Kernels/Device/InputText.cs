namespace GraphEngine.Kernels;

/// <summary>
/// How a user's value appears in an error message: quoted, on one line, and cut to a readable length
/// (a 200 KB token list or JSON document is named by its start and its length).
/// </summary>
public static class InputText
{
    /// <summary>Characters of a value shown before it is cut.</summary>
    public const int MaxShown = 80;

    /// <summary>'value', or 'first 80 chars…' (N chars) when longer; newlines and tabs shown as spaces.</summary>
    public static string Quote(string? value)
    {
        if (value is null) return "null";
        string flat = OneLine(value);
        return flat.Length <= MaxShown ? $"'{flat}'" : $"'{flat[..MaxShown]}…' ({value.Length} chars)";
    }

    /// <summary>The text with every line break and control character replaced by a space.</summary>
    public static string OneLine(string text)
    {
        if (text.AsSpan().IndexOfAnyInRange('\0', '\x1f') < 0 && !text.Contains('\x7f')) return text;
        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
            if (char.IsControl(chars[i])) chars[i] = ' ';
        return new string(chars);
    }
}
