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

    /// <summary>Asserts the bad-input contract: exit 2, one error line naming the value, no stack trace.</summary>
    public static void AssertUsageError(Result r, string mustName)
    {
        Assert.True(r.Exit == ExitCodes.Usage, $"exit {r.Exit}, stderr: {r.Err}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("graphengine: error:", lines[0]);
        Assert.Contains(mustName, lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
    }
}
