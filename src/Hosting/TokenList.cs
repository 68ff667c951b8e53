using System.Globalization;

namespace GraphEngine.Hosting;

/// <summary>Strict parsing of comma-separated positive token counts ("1,7,100,512").</summary>
public static class TokenList
{
    /// <summary>
    /// Parses <paramref name="text"/>: entries trimmed, each a positive integer no larger than
    /// <paramref name="max"/>; duplicates dropped, order kept. Errors name the entry and its source.
    /// </summary>
    public static int[] Parse(string text, string source, int max)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new UsageException($"empty token list (from {source})");
        var result = new List<int>();
        foreach (var raw in text.Split(','))
        {
            string entry = raw.Trim();
            if (entry.Length == 0)
                throw new UsageException($"empty entry in token list '{text}' (from {source})");
            if (!int.TryParse(entry, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                throw new UsageException($"token count '{entry}' in '{text}' (from {source}) is not a positive integer");
            if (n < 1)
                throw new UsageException($"token count '{entry}' in '{text}' (from {source}) must be >= 1");
            if (n > max)
                throw new UsageException($"token count '{entry}' in '{text}' (from {source}) is above the model's {max} max tokens");
            if (!result.Contains(n)) result.Add(n);
        }
        return result.ToArray();
    }
}
