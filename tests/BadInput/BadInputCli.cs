using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>The CLI runs of this suite, environment first; the contract they are held to is <see cref="CliHarness.AssertUsageError"/>.</summary>
internal static class BadInputCli
{
    /// <summary>The CLI in-process with an empty environment (plus <paramref name="env"/>).</summary>
    public static CliHarness.Result Run(IDictionary<string, string?>? env, params string[] args) => CliHarness.Run(args, env);

    /// <summary>The CLI in-process with an empty environment.</summary>
    public static CliHarness.Result Run(params string[] args) => CliHarness.Run(args);
}
