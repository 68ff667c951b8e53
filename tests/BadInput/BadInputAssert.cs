using GraphEngine.Hosting;
using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>The bad-input contract, asserted the same way for every case of this suite.</summary>
internal static class BadInputAssert
{
    /// <summary>Longest acceptable error line: values are cut to 80 chars, so only the fixed text is left.</summary>
    public const int MaxLine = 700;

    /// <summary>Exit 2, exactly one line on stderr starting "graphengine: error:", naming every
    /// <paramref name="mustName"/> (the value or its prefix, and its source), no stack trace.</summary>
    public static void Usage(CliHarness.Result r, params string[] mustName)
    {
        Assert.True(r.Exit == ExitCodes.Usage, $"exit {r.Exit}, stderr: {Cut(r.Err)}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{lines.Length} lines on stderr: {Cut(r.Err)}");
        string line = lines[0];
        Assert.StartsWith("graphengine: error:", line);
        foreach (var name in mustName)
            Assert.True(line.Contains(name, StringComparison.Ordinal), $"'{name}' not named in: {Cut(line)}");
        Assert.DoesNotContain("   at ", r.Err);
        Assert.True(line.Length <= MaxLine, $"error line of {line.Length} chars: {Cut(line)}");
    }

    /// <summary>The CLI in-process with an empty environment (plus <paramref name="env"/>).</summary>
    public static CliHarness.Result Run(IDictionary<string, string?>? env, params string[] args) => CliHarness.Run(args, env);

    public static CliHarness.Result Run(params string[] args) => CliHarness.Run(args);

    private static string Cut(string s) => s.Length <= 2000 ? s : s[..2000] + "...";
}
