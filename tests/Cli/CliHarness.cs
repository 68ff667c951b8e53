using GraphEngine.Cli;
using GraphEngine.Hosting;

namespace GraphEngine.Tests.Cli;

/// <summary>Runs the command line in-process with captured output and an empty environment.</summary>
internal static class CliHarness
{
    public sealed record Result(int Exit, string Out, string Err);

    public static Result Run(string args, IDictionary<string, string?>? env = null) =>
        Run(args.Split(' ', StringSplitOptions.RemoveEmptyEntries), env);

    public static Result Run(string[] args, IDictionary<string, string?>? env = null)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CliApp.Run(args, CliConsole.Plain(o, e), env ?? new Dictionary<string, string?>());
        return new Result(code, o.ToString(), e.ToString());
    }

    /// <summary>Longest acceptable error line: values are cut to 80 chars, so only the fixed text is left.</summary>
    public const int MaxErrorLine = 700;

    /// <summary>The bad-input contract: exit 2, exactly one line on stderr starting "graphengine: error:", naming every
    /// <paramref name="mustName"/> (the value or its prefix, and its source), no stack trace, no runaway length.</summary>
    public static void AssertUsageError(Result r, params string[] mustName)
    {
        Assert.True(r.Exit == ExitCodes.Usage, $"exit {r.Exit}, stderr: {Cut(r.Err)}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{lines.Length} lines on stderr: {Cut(r.Err)}");
        string line = lines[0];
        Assert.StartsWith("graphengine: error:", line);
        foreach (var name in mustName)
            Assert.True(line.Contains(name, StringComparison.Ordinal), $"'{name}' not named in: {Cut(line)}");
        Assert.DoesNotContain("   at ", r.Err);
        Assert.True(line.Length <= MaxErrorLine, $"error line of {line.Length} chars: {Cut(line)}");
    }

    private static string Cut(string s) => s.Length <= 2000 ? s : s[..2000] + "...";
}
