using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using GraphEngine.Models;
using GraphEngine.Models.Checkpoints;
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
    bool Json = false,
    string? Model = null);

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
    bool Json,
    string? ModelDirectory = null,
    bool ResetDeviceAtExit = false)
{
    /// <summary>A checkpoint's largest step and default token counts: the shipped presets' spread.</summary>
    public const int CheckpointMaxTokens = 2048;

    /// <summary>Where <see cref="Preset"/> came from (the switch, variable or file key of --preset or --model), for errors.</summary>
    public string ModelOrigin { get; init; } = "the default preset";

    /// <summary><see cref="Quant"/> as the user wrote it, for errors.</summary>
    public string QuantText { get; init; } = "bf16";

    /// <summary>Where <see cref="Quant"/> came from, for errors.</summary>
    public string QuantOrigin { get; init; } = "the default";

    /// <summary>
    /// Refuses a quantization the model's shapes cannot take (see <see cref="QuantFit"/>). Called by the commands that
    /// build the model, before they open the device; the conformance suite, which builds its own layers, does not ask.
    /// </summary>
    public void RequireQuantFits() => QuantFit.Require(Preset, ModelOrigin, Quant, QuantText, QuantOrigin);

    /// <summary>The configuration section the run settings are bound from.</summary>
    public const string Section = "GraphEngine:Run";
    

    /// <summary>The keys of section <see cref="Section"/>.</summary>
    public static IReadOnlyList<string> Keys => EngineConfiguration.KeysOf("Run");

    /// <summary>The sections under GraphEngine that the program reads.</summary>
    public static readonly IReadOnlyList<string> Sections = new[] { "BlockWiseCudaGraph", "Run" };

    /// <summary>
    /// Binds the CLI's settings strictly, with the same parsers the engine uses: unknown keys in any section
    /// the program reads are refused (listing the accepted ones), and every error names the switch, variable
    /// or file key the value came from.
    /// </summary>
    public static RunSettings Bind(IConfiguration config, CliOptions cli)
    {
        try
        {
            return BindStrict(config, cli);
        }
        catch (EngineConfigurationException e)
        {
            throw new UsageException(e.Message, e);
        }
        catch (QuantConfigException e)
        {
            throw new UsageException(e.Message, e);
        }
    }

    private static RunSettings BindStrict(IConfiguration config, CliOptions cli)
    {
        EngineConfiguration.RejectUnknownKeys(config, "GraphEngine", Sections);
        EngineConfiguration.RejectUnknownKeys(config, Section, Keys);
        EngineConfiguration.RejectUnknownKeys(config, EngineConfiguration.Section, EngineConfiguration.KeysOf("BlockWiseCudaGraph"));

        var presetValue = Read(config, "Preset");
        var modelValue = Read(config, "Model");
        if (presetValue is { } pv && modelValue is { } mv)
            throw new UsageException($"--preset and --model are alternatives: preset {InputText.Quote(pv.Text)} (from {pv.Origin}) "
                                     + $"and model {InputText.Quote(mv.Text)} (from {mv.Origin}); give one");
        string presetName = presetValue?.Text ?? ModelPresets.Tiny.Name;
        var preset = modelValue is { } model
            ? CheckpointPreset(model.Text, model.Origin)
            : ModelPresets.TryGet(presetName.Trim(), out var p)
                ? p
                : throw new UsageException($"unknown preset {InputText.Quote(presetName)} (from {presetValue?.Origin}); known: {string.Join(", ", ModelPresets.Names)}");

        var backendValue = Read(config, "Backend");
        string backendText = backendValue?.Text ?? "auto";
        var backend = backendText.Trim().ToLowerInvariant() switch
        {
            "auto" => BackendPreference.Auto,
            "cuda" => BackendPreference.Cuda,
            "reference" or "ref" or "cpu" => BackendPreference.Reference,
            _ => throw new UsageException($"unknown backend {InputText.Quote(backendText)} (from {backendValue?.Origin}); accepted: cuda, reference, auto"),
        };
        // One bool parser for every flag: a value the engine would refuse is refused here, before --debug
        // could be switched on by it.
        bool runDebug = EngineConfiguration.ReadBoolKey(config, $"{Section}:Debug") ?? false;
        bool engineDebug = EngineConfiguration.ReadBoolKey(config, $"{EngineConfiguration.Section}:Debug") ?? false;
        bool debug = cli.Debug || runDebug || engineDebug;
        // Token counts are checked now, against the preset's max tokens, so a bad list fails before any work.
        var tokensValue = Read(config, "Tokens");
        int[] tokens = tokensValue is null
            ? preset.DefaultTokens.Where(t => t <= preset.MaxTokens).ToArray()
            : TokenList.Parse(TokensText(config) ?? tokensValue.Value.Text, tokensValue.Value.Origin, preset.MaxTokens);
        var quantValue = Read(config, "Quant");
        // QuantConfig.Parse reads blank as "no quantization"; given on purpose (an unset shell variable), it is a mistake.
        if (quantValue is { } qv && string.IsNullOrWhiteSpace(qv.Text))
            throw new UsageException($"quantization is empty (from {qv.Origin}): give a mode ({QuantModeNames}) or FastDeploy's JSON, or leave it unset for bf16");
        var qc = QuantConfig.Parse(quantValue?.Text ?? "bf16", quantValue?.Origin ?? "the default", preset.IsMoe);

        // Destroys the GPU's primary context when the command ends (compute-sanitizer's leak check reports then); see
        // CudaDevice.ResetContextOnDispose. Off by default: set by scripts/gpu-sanitize.sh.
        bool reset = EngineConfiguration.ReadBoolKey(config, $"{Section}:ResetDeviceAtExit") ?? false;
        return new RunSettings(preset, qc, backend, tokens, debug, cli.Json, modelValue?.Text, reset)
        {
            ModelOrigin = modelValue?.Origin ?? presetValue?.Origin ?? "the default preset",
            QuantText = quantValue?.Text ?? "bf16",
            QuantOrigin = quantValue?.Origin ?? "the default",
        };
    }

    /// <summary>
    /// A checkpoint directory described from its config.json alone (the weights are read when the session is
    /// built): a missing directory, a missing or malformed config.json or an unknown model_type is bad input
    /// naming the directory and where it came from.
    /// </summary>
    private static ModelPreset CheckpointPreset(string dir, string origin)
    {
        string config = Path.Combine(dir, CheckpointDirectory.ConfigFileName);
        if (File.Exists(dir))
            throw new UsageException($"model directory {InputText.Quote(dir)} (from {origin}) is a file; give the checkpoint's directory");
        if (!Directory.Exists(dir))
            throw new UsageException($"model directory {InputText.Quote(dir)} (from {origin}) does not exist");
        if (Directory.Exists(config))
            throw new UsageException($"model directory {InputText.Quote(dir)} (from {origin}) has a directory where config.json belongs");
        if (!File.Exists(config))
            throw new UsageException($"model directory {InputText.Quote(dir)} (from {origin}) has no config.json");
        try
        {
            var model = HfModelConfig.Parse(CheckpointDirectory.ReadJsonText(config, CheckpointDirectory.MaxConfigBytes), config);
            return ModelPreset.From(model, CheckpointMaxTokens, new[] { 1, 16, 128, 512, CheckpointMaxTokens });
        }
        catch (CheckpointException e)
        {
            throw new UsageException($"{e.Message} (model from {origin})", e);
        }
    }

    /// <summary>Run:Tokens given as a JSON array (Tokens:0, Tokens:1, ...) joined into one list.</summary>
    private static string? TokensText(IConfiguration config)
    {
        var section = config.GetSection($"{Section}:Tokens");
        if (section.Value is not null) return null;
        var items = section.GetChildren().Select(c => c.Value ?? "").ToList();
        return items.Count == 0 ? null : string.Join(",", items);
    }

    private const string QuantModeNames = "bf16, wint8, wint4, w8a8, w4a8, block_wise_fp8, w4afp8, wi4a16, nvfp4";

    /// <summary>The Run keys that hold a list, so they may come as children (a file's array, GRAPHENGINE__RUN__TOKENS__0).</summary>
    private static readonly string[] ListKeys = { "Tokens" };

    /// <summary>
    /// A Run setting with its origin: the switch, the variable, or the key of the file. A one-value key set through
    /// children (GRAPHENGINE__RUN__PRESET__0, GRAPHENGINE__RUN__QUANT__quantization) is refused rather than read as
    /// its first child, the way the file's parser refuses an array or object there.
    /// </summary>
    private static EngineConfiguration.SettingValue? Read(IConfiguration config, string key)
    {
        string full = $"{Section}:{key}";
        if (EngineConfiguration.Read(config, full) is { } v) return v;
        var child = config.GetSection(full).GetChildren().FirstOrDefault();
        if (child is null) return null;
        var first = FirstLeaf(config, child);
        if (!ListKeys.Contains(key))
            throw new UsageException($"{first?.Origin ?? child.Path} sets {child.Path}, but {key} takes one value, not a list or section; "
                                     + $"set {full} itself");
        if (config.GetSection(full).GetChildren().FirstOrDefault(c => c.Key.Length == 0 || !c.Key.All(char.IsAsciiDigit)) is { } odd)
            throw new UsageException($"{EngineConfiguration.Read(config, odd.Path)?.Origin ?? odd.Path} sets {odd.Path}, but {key} is a list: "
                                     + $"its entries are numbered ({full}:0, {full}:1, ...) or given as one comma-separated value");
        // A list from a file array has only children; name the first child's origin.
        return first;
    }

    private static EngineConfiguration.SettingValue? FirstLeaf(IConfiguration config, IConfigurationSection section)
    {
        if (EngineConfiguration.Read(config, section.Path) is { } v) return v;
        foreach (var c in section.GetChildren())
            if (FirstLeaf(config, c) is { } leaf) return leaf;
        return null;
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
            return EngineConfiguration.Build(cli.ConfigPath, Array.Empty<string>(), environment, CommandLineSettings(cli));
        }
        catch (EngineConfigurationException e)
        {
            throw new UsageException(e.Message, e);
        }
    }

    /// <summary>The command-line layer: each option given becomes its configuration key, named by its switch in errors.</summary>
    public static List<EngineConfiguration.NamedSetting> CommandLineSettings(CliOptions cli)
    {
        var list = new List<EngineConfiguration.NamedSetting>();
        void Add(string key, string? value, string option)
        {
            if (value is not null) list.Add(new(key, value, option));
        }
        Add($"{RunSettings.Section}:Preset", cli.Preset, "--preset");
        Add($"{RunSettings.Section}:Model", cli.Model, "--model");
        Add($"{RunSettings.Section}:Quant", cli.Quant, "--quant");
        Add($"{RunSettings.Section}:Backend", cli.Backend, "--backend");
        Add($"{RunSettings.Section}:Tokens", cli.Tokens, "--tokens");
        Add($"{EngineConfiguration.Section}:Sizes", cli.Sizes, "--sizes");
        Add($"{EngineConfiguration.Section}:Granularity", cli.Granularity, "--granularity");
        if (cli.Debug) Add($"{EngineConfiguration.Section}:Debug", "true", "--debug");
        return list;
    }
}
