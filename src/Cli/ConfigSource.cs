using Microsoft.Extensions.Configuration;

namespace GraphEngine.Cli;

public static partial class CliConfiguration
{
    // Until the engine's EngineConfiguration lands: defaults < file < environment < command line.
    private static IConfigurationRoot BuildCore(string? jsonPath, IReadOnlyList<string> args, IDictionary<string, string?>? environment)
    {
        var b = new ConfigurationBuilder();
        if (jsonPath is not null) b.AddJsonFile(jsonPath, optional: false, reloadOnChange: false);
        if (environment is null) b.AddEnvironmentVariables();
        else b.AddInMemoryCollection(environment.ToDictionary(kv => kv.Key.Replace("__", ":"), kv => kv.Value));
        b.AddCommandLine(args.ToArray());
        return b.Build();
    }
}
