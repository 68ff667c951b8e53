using GraphEngine.Models;
using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using Microsoft.Extensions.Configuration;

namespace GraphEngine.Hosting;

/// <summary>
/// What the command line gave, before configuration: each value is null when the option was absent,
/// so the configuration file and the environment can supply it.
/// </summary>
public sealed record CliOptions(
    string? ConfigPath = null,
    string? Preset = null,
    string? Quant = null,
    string? Sizes = null,
    string? Granularity = null,
    string? Backend = null,
    string? Tokens = null,
    bool Debug = false,
    bool Json = false);

/// <summary>
/// The CLI's own settings, bound from section <c>GraphEngine:Run</c> of the same configuration the
/// engine reads (defaults &lt; JSON file &lt; environment &lt; command line), so every option can come from
/// any of them: GRAPHENGINE__RUN__PRESET=llama3-8b, or "Run": { "Preset": ... } in graphengine.json.
/// </summary>
public sealed record RunSettings(
    ModelPreset Preset,
    QuantConfig Quant,
    BackendPreference Backend,
    int[] TokenCounts,
    bool Debug,
    bool Json)
{
    public const string Section = "GraphEngine:Run";
    

    public static RunSettings Bind(IConfiguration config, CliOptions cli)
    {
        var run = config.GetSection(Section);
        string presetName = run["Preset"] ?? ModelPresets.Tiny.Name;
        var preset = ModelPresets.TryGet(presetName, out var p)
            ? p
            : throw new UsageException($"unknown preset '{presetName}' (from {Source(cli.Preset, "--preset", "Preset")}); known: {string.Join(", ", ModelPresets.Names)}");

        string quant = run["Quant"] ?? "bf16";
        string backendText = run["Backend"] ?? "auto";
        var backend = backendText.Trim().ToLowerInvariant() switch
        {
            "auto" => BackendPreference.Auto,
            "cuda" => BackendPreference.Cuda,
            "reference" or "ref" or "cpu" => BackendPreference.Reference,
            _ => throw new UsageException($"unknown backend '{backendText}' (from {Source(cli.Backend, "--backend", "Backend")}); accepted: cuda, reference, auto"),
        };
        bool debug = cli.Debug || ParseBool(run["Debug"], $"{Section}:Debug") ||
                     ParseBool(config[$"{EngineConfiguration.Section}:Debug"], $"{EngineConfiguration.Section}:Debug");
        // Token counts are checked now, against the preset's max tokens, so a bad list fails before any work.
        string? tokensText = run["Tokens"];
        int[] tokens = tokensText is null
            ? preset.DefaultTokens.Where(t => t <= preset.MaxTokens).ToArray()
            : TokenList.Parse(tokensText, Source(cli.Tokens, "--tokens", "Tokens"), preset.MaxTokens);
        QuantConfig qc;
        try
        {
            qc = QuantConfig.Parse(quant, Source(cli.Quant, "--quant", "Quant"), preset.IsMoe);
        }
        catch (QuantConfigException e)
        {
            throw new UsageException(e.Message, e);
        }
        return new RunSettings(preset, qc, backend, tokens, debug, cli.Json);
    }

    internal static string Source(string? cliValue, string option, string key) =>
        cliValue is not null ? option : $"configuration key {Section}:{key}";

    private static bool ParseBool(string? text, string key)
    {
        if (text is null) return false;
        return text.Trim().ToLowerInvariant() switch
        {
            "1" or "true" or "yes" or "on" => true,
            "0" or "false" or "no" or "off" or "" => false,
            _ => throw new UsageException($"'{text}' is not a boolean (from configuration key {key})"),
        };
    }
}

/// <summary>Builds the configuration the CLI and the engine share.</summary>
public static class CliConfiguration
{
    /// <summary>
    /// The whole configuration, through the engine's own builder so the CLI's options and the engine's
    /// share one precedence: file (given, else ./graphengine.json when present) &lt; FD_ variables &lt;
    /// GRAPHENGINE__ variables (<paramref name="environment"/>, or the process's) &lt; the command line.
    /// </summary>
    public static IConfigurationRoot Build(CliOptions cli, IDictionary<string, string?>? environment)
    {
        try
        {
            return EngineConfiguration.Build(cli.ConfigPath, CommandLineArgs(cli), environment);
        }
        catch (EngineConfigurationException e)
        {
            throw new UsageException(e.Message, e);
        }
    }

    /// <summary>The command-line layer: each option given becomes its configuration key.</summary>
    public static List<string> CommandLineArgs(CliOptions cli)
    {
        var args = new List<string>();
        void Add(string key, string? value)
        {
            if (value is not null) args.Add($"--{key}={value}");
        }
        Add($"{RunSettings.Section}:Preset", cli.Preset);
        Add($"{RunSettings.Section}:Quant", cli.Quant);
        Add($"{RunSettings.Section}:Backend", cli.Backend);
        Add($"{RunSettings.Section}:Tokens", cli.Tokens);
        Add($"{EngineConfiguration.Section}:Sizes", cli.Sizes);
        Add($"{EngineConfiguration.Section}:Granularity", cli.Granularity);
        if (cli.Debug) Add($"{EngineConfiguration.Section}:Debug", "true");
        return args;
    }
}
