using System.Collections;
using GraphEngine.Kernels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;

namespace GraphEngine.Graph;

/// <summary>
/// Builds the engine's configuration and binds <see cref="BlockWiseGraphOptions"/> from it, strictly.
/// Priority, lowest first: built-in defaults (the property initialisers of the options), the JSON file,
/// FastDeploy's FD_ variables, GRAPHENGINE__ environment variables, command-line switches.
/// FD_ variables sit above the file because FastDeploy users expect them to win over files; they sit
/// below GRAPHENGINE__ and the command line because those name this engine's keys exactly and are the
/// more deliberate, more specific setting. docs/engine.md has the table.
/// </summary>
public static partial class EngineConfiguration
{
    /// <summary>The configuration section the graph options are bound from.</summary>
    public const string Section = "GraphEngine:BlockWiseCudaGraph";
    /// <summary>The JSON file read from the working directory when no file is named.</summary>
    public const string DefaultFileName = "graphengine.json";
    /// <summary>Prefix of the environment variables that set this engine's keys (`__` separates levels: GRAPHENGINE__BlockWiseCudaGraph__Sizes=1,2,4).</summary>
    public const string EnvironmentPrefix = "GRAPHENGINE__";

    /// <summary>FastDeploy's switch: 0/1 (or false/true) for <see cref="BlockWiseGraphOptions.Enabled"/>.</summary>
    public const string FdUseGraph = "FD_USE_BLOCK_WISE_CUDA_GRAPH";
    /// <summary>FastDeploy's comma-separated size list, for <see cref="BlockWiseGraphOptions.Sizes"/>.</summary>
    public const string FdSizes = "FD_BLOCK_WISE_CUDA_GRAPH_SIZES";
    /// <summary>FastDeploy's per-step debug log switch, for <see cref="BlockWiseGraphOptions.Debug"/>.</summary>
    public const string FdDebug = "FD_BLOCK_WISE_DEBUG";

    private static readonly string[] KnownKeys = { "Enabled", "Sizes", "Debug", "Exclude", "Granularity", "MaxSegmentLayers" };

    /// <summary>A value given by a program on its own terms (a CLI switch): key, value, and how to name it ("--preset").</summary>
    public readonly record struct NamedSetting(string Key, string Value, string Origin);

    /// <summary>A setting as found: its text and where it came from, for error messages.</summary>
    public readonly record struct SettingValue(string Text, string Origin);

    /// <summary>Short command-line switches; the long form --GraphEngine:BlockWiseCudaGraph:Key=value works too.</summary>
    public static readonly IReadOnlyDictionary<string, string> SwitchMappings = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--graph-enabled"] = Section + ":Enabled",
        ["--graph-sizes"] = Section + ":Sizes",
        ["--graph-debug"] = Section + ":Debug",
        ["--graph-exclude"] = Section + ":Exclude",
        ["--graph-granularity"] = Section + ":Granularity",
    };

    /// <summary>
    /// Layers the sources. <paramref name="jsonPath"/> null reads graphengine.json from the working
    /// directory when it exists; a given path must exist and hold JSON, else the error names it.
    /// <paramref name="environment"/> null reads the process environment (tests inject a dictionary).
    /// </summary>
    public static IConfigurationRoot Build(string? jsonPath, IReadOnlyList<string> commandLineArgs, IDictionary<string, string?>? environment = null) =>
        Build(jsonPath, commandLineArgs, environment, null);

    /// <summary>
    /// As above; <paramref name="named"/> are the highest-priority settings, each named in errors by its
    /// own origin (the CLI passes its switches this way, so a bad --preset is reported as --preset).
    /// </summary>
    public static IConfigurationRoot Build(string? jsonPath, IReadOnlyList<string> commandLineArgs, IDictionary<string, string?>? environment,
        IEnumerable<NamedSetting>? named)
    {
        ArgumentNullException.ThrowIfNull(commandLineArgs);
        var builder = new ConfigurationBuilder();

        if (ResolveJsonFile(jsonPath) is var (shown, full))
            builder.Add(ParseFile(ReadFileText(shown, full), full));

        var env = environment ?? ProcessEnvironment();
        builder.Add(FastDeploySource(env));
        builder.Add(GraphEngineEnvironmentSource(env));
        builder.AddCommandLine(commandLineArgs.ToArray(), SwitchMappings.ToDictionary(kv => kv.Key, kv => kv.Value));
        if (named is not null)
        {
            var src = new OriginConfigurationSource("command line");
            foreach (var n in named) src.Set(n.Key, n.Value, n.Origin, false);
            builder.Add(src);
        }

        try
        {
            return builder.Build();
        }
        catch (FormatException e)
        {
            throw new EngineConfigurationException($"command line: {InputText.OneLine(e.Message)}", e);
        }
    }

    private static (string Shown, string Full)? ResolveJsonFile(string? jsonPath)
    {
        if (jsonPath is null)
        {
            string dflt = Path.Combine(Directory.GetCurrentDirectory(), DefaultFileName);
            return File.Exists(dflt) ? (dflt, dflt) : null;
        }
        if (string.IsNullOrWhiteSpace(jsonPath))
            throw new EngineConfigurationException("configuration file path is empty (from --config)");
        string full;
        try
        {
            full = Path.GetFullPath(jsonPath);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new EngineConfigurationException($"configuration file path {InputText.Quote(jsonPath)} is not a valid path: {InputText.OneLine(e.Message)}", e);
        }
        return (jsonPath, full);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    private static Dictionary<string, string?> ProcessEnvironment()
    {
        var d = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            d[(string)e.Key] = e.Value as string;
        return d;
    }

    private static OriginConfigurationSource FastDeploySource(IDictionary<string, string?> env)
    {
        var src = new OriginConfigurationSource("FastDeploy variables");
        if (env.TryGetValue(FdUseGraph, out var use) && use is not null)
            src.Set(Section + ":Enabled", use, $"environment variable {FdUseGraph}", zeroOrOne: true);
        if (env.TryGetValue(FdSizes, out var sizes) && sizes is not null)
            src.Set(Section + ":Sizes", sizes, $"environment variable {FdSizes}", zeroOrOne: false);
        if (env.TryGetValue(FdDebug, out var dbg) && dbg is not null)
            src.Set(Section + ":Debug", dbg, $"environment variable {FdDebug}", zeroOrOne: true);
        return src;
    }

    private static OriginConfigurationSource GraphEngineEnvironmentSource(IDictionary<string, string?> env)
    {
        var src = new OriginConfigurationSource("GRAPHENGINE__ variables");
        foreach (var (name, value) in env)
        {
            if (value is null || !name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)) continue;
            // GRAPHENGINE__BlockWiseCudaGraph__Sizes -> GraphEngine:BlockWiseCudaGraph:Sizes (keys are case-insensitive).
            string key = name.Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal);
            src.Set(key, value, $"environment variable {name}", zeroOrOne: false);
        }
        return src;
    }

    // ------------------------------------------------------------------ binding

    /// <summary>
    /// Reads section <see cref="Section"/> strictly: unknown keys, bad booleans, bad granularity and every
    /// bad size entry fail with an <see cref="EngineConfigurationException"/> naming the entry and the key
    /// or variable it came from. Sizes are trimmed, deduplicated and sorted.
    /// </summary>
    public static BlockWiseGraphOptions BindOptions(IConfiguration config, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (maxTokens < 1 || maxTokens > PrefillEngine.MaxTokensLimit)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, $"maxTokens must be in [1, {PrefillEngine.MaxTokensLimit}]");

        RejectUnknownKeys(config, Section, KnownKeys);

        var dflt = new BlockWiseGraphOptions();
        bool enabled = ReadBool(config, "Enabled") ?? dflt.Enabled;
        bool debug = ReadBool(config, "Debug") ?? dflt.Debug;
        var granularity = ReadGranularity(config) ?? dflt.Granularity;
        var sizes = ReadList(config, "Sizes") is { } s ? ParseSizes(s, maxTokens) : dflt.Sizes.Where(x => x <= maxTokens).ToArray();
        var exclude = ReadList(config, "Exclude") is { } e ? ParseExclude(e) : dflt.Exclude;
        int maxSegment = Find(config, "MaxSegmentLayers") is { } ms
            ? SettingParsers.ParseInt(ms.Text, "MaxSegmentLayers", ms.Origin, 0, BlockWiseGraphOptions.MaxSegmentLayersLimit)
            : dflt.MaxSegmentLayers;
        return new BlockWiseGraphOptions
        {
            Enabled = enabled, Debug = debug, Granularity = granularity, Sizes = sizes, Exclude = exclude, MaxSegmentLayers = maxSegment,
        };
    }

    /// <summary>One raw setting: its text and where it came from (for error messages).</summary>
    private readonly record struct Raw(string Text, string Origin, string Key, bool ZeroOrOne);

    private static bool? ReadBool(IConfiguration config, string name) => ReadBoolKey(config, Section + ":" + name);

    /// <summary>
    /// A boolean setting at <paramref name="key"/>, parsed by <see cref="SettingParsers.ParseBool"/> (FD_ flags:
    /// 0 or 1 only); null when unset. The CLI reads its own flags through this too, so no flag is read leniently
    /// in one place and strictly in another.
    /// </summary>
    public static bool? ReadBoolKey(IConfiguration config, string key)
    {
        if (FindKey(config, key) is not { } raw) return null;
        return SettingParsers.ParseBool(raw.Text, key[(key.LastIndexOf(':') + 1)..], raw.Origin, raw.ZeroOrOne);
    }

    /// <summary>The value at <paramref name="key"/> from the highest-priority source that sets it, with that source's name.</summary>
    public static SettingValue? Read(IConfiguration config, string key) =>
        FindKey(config, key) is { } raw ? new SettingValue(raw.Text, raw.Origin) : null;

    /// <summary>
    /// Refuses any key of <paramref name="section"/> not in <paramref name="known"/>, naming the key, where it
    /// came from, and the accepted keys. Also refuses a value set on the section itself (a scalar where a
    /// section belongs).
    /// </summary>
    public static void RejectUnknownKeys(IConfiguration config, string section, IReadOnlyList<string> known)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (FindKey(config, section) is { } scalar)
            throw new EngineConfigurationException(
                $"{scalar.Origin} sets {InputText.Quote(scalar.Text)} on section {section}, which holds keys: {string.Join(", ", known)}");
        foreach (var child in config.GetSection(section).GetChildren())
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                throw new EngineConfigurationException(
                    $"unknown setting {InputText.Quote(child.Key)} in {Describe(config, child.Path)}; accepted: {string.Join(", ", known)}");
    }

    private static Granularity? ReadGranularity(IConfiguration config)
    {
        if (Find(config, "Granularity") is not { } raw) return null;
        string t = raw.Text.Trim();
        foreach (var g in Enum.GetValues<Granularity>())
            if (t.Equals(g.ToString(), StringComparison.OrdinalIgnoreCase)) return g;
        throw new EngineConfigurationException($"invalid value {InputText.Quote(raw.Text)} for Granularity in {raw.Origin}: expected Layer or Segment");
    }

    /// <summary>A list setting is either one comma-separated string or an array (Key:0, Key:1, ...),
    /// taken whole from the highest-priority source that sets it so arrays never merge across sources.</summary>
    private static List<Raw>? ReadList(IConfiguration config, string name)
    {
        string key = Section + ":" + name;
        if (config is IConfigurationRoot root)
        {
            foreach (var p in root.Providers.Reverse())
            {
                bool hasValue = p.TryGet(key, out string? value) && value is not null;
                var children = p.GetChildKeys(Enumerable.Empty<string>(), key).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
                if (hasValue) return SplitCommas(new Raw(value!, Origin(p, key), key, false));
                if (children.Count > 0)
                {
                    var items = new List<Raw>();
                    foreach (var c in children.OrderBy(c => c, ConfigurationKeyComparer.Instance))
                    {
                        string ck = key + ":" + c;
                        // A list's children are its indices (a file's array, NAME__0, NAME__1); any other child is a typo'd key.
                        if (c.Length == 0 || !c.All(char.IsAsciiDigit))
                            throw new EngineConfigurationException(
                                $"{Origin(p, ck)} sets {ck}, but {name} is a list: its entries are numbered ({key}:0, {key}:1, ...) or given as one comma-separated value");
                        p.TryGet(ck, out string? cv);
                        items.Add(new Raw(cv ?? "", Origin(p, ck), ck, false));
                    }
                    return items;
                }
                if (p.TryGet(key, out _)) return new List<Raw>();   // an empty JSON array
            }
            return null;
        }
        var section = config.GetSection(key);
        if (section.Value is { } v) return SplitCommas(new Raw(v, $"configuration key {key}", key, false));
        var kids = section.GetChildren().ToList();
        if (kids.Count == 0) return null;
        return kids.Select(k => new Raw(k.Value ?? "", $"configuration key {k.Path}", k.Path, false)).ToList();
    }

    private static List<Raw> SplitCommas(Raw whole)
    {
        var parts = whole.Text.Split(',');
        var list = new List<Raw>(parts.Length);
        for (int i = 0; i < parts.Length; i++)
            list.Add(whole with { Text = parts[i], Origin = parts.Length > 1 ? $"{whole.Origin} (entry {i + 1} of {InputText.Quote(whole.Text)})" : whole.Origin });
        return list;
    }

    private static int[] ParseSizes(List<Raw> entries, int maxTokens)
    {
        if (entries.Count == 0 || (entries.Count == 1 && entries[0].Text.Trim().Length == 0))
            throw new EngineConfigurationException(
                $"Sizes is empty in {(entries.Count > 0 ? entries[0].Origin : "the configuration")}: list at least one token count, or set Enabled to false");
        var set = new SortedSet<int>();
        foreach (var e in entries)
            set.Add(SettingParsers.ParseCount(e.Text, "graph size", e.Origin, 1, maxTokens));
        return set.ToArray();
    }

    private static string[] ParseExclude(List<Raw> entries)
    {
        var list = new List<string>();
        if (entries.Count == 1 && entries[0].Text.Trim().Length == 0) return Array.Empty<string>();
        foreach (var e in entries)
        {
            string t = e.Text.Trim();
            if (t.Length == 0)
                throw new EngineConfigurationException($"empty Exclude pattern in {e.Origin}: patterns are separated by single commas");
            if (!list.Contains(t, StringComparer.OrdinalIgnoreCase)) list.Add(t);
        }
        return list.ToArray();
    }

    private static Raw? Find(IConfiguration config, string name) => FindKey(config, Section + ":" + name);

    private static Raw? FindKey(IConfiguration config, string key)
    {
        if (config is IConfigurationRoot root)
        {
            foreach (var p in root.Providers.Reverse())
                if (p.TryGet(key, out string? v) && v is not null)
                    return new Raw(v, Origin(p, key), key, p is OriginConfigurationProvider op && op.IsZeroOrOne(key));
            return null;
        }
        return config[key] is { } value ? new Raw(value, $"configuration key {key}", key, false) : null;
    }

    private static string Describe(IConfiguration config, string key)
    {
        if (config is IConfigurationRoot root)
            foreach (var p in root.Providers.Reverse())
                if (p.TryGet(key, out _) || p.GetChildKeys(Enumerable.Empty<string>(), key).Any())
                    return Origin(p, key);
        return $"configuration key {key}";
    }

    private static string Origin(IConfigurationProvider p, string key) => p switch
    {
        OriginConfigurationProvider o => o.OriginOf(key),
        JsonConfigurationProvider j => $"key {key} of {JsonPath(j)}",
        CommandLineConfigurationProvider => $"command-line switch for {key}",
        _ => $"configuration key {key}",
    };

    private static string JsonPath(JsonConfigurationProvider j) =>
        j.Source.FileProvider is PhysicalFileProvider pf ? Path.Combine(pf.Root, j.Source.Path ?? "") : j.Source.Path ?? "JSON file";
}
