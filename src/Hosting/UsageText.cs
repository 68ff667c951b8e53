namespace GraphEngine.Hosting;

/// <summary>Values echoed in error lines are cut to a readable length and kept on one line.</summary>
public static class UsageText
{
    public const int MaxQuoted = 80;

    public static string Clip(string? value)
    {
        if (value is null) return "";
        string one = value.ReplaceLineEndings(" ");
        return one.Length <= MaxQuoted ? one : one[..MaxQuoted] + $"... ({one.Length} chars)";
    }
}
