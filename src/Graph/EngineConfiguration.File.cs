using System.Text.Json;
using GraphEngine.Kernels;

namespace GraphEngine.Graph;

// The configuration file: read once into memory (through InputFile: size-capped, never blocking on a FIFO), parsed from that
// text, and checked against the schema of the sections the program reads.
public static partial class EngineConfiguration
{
    /// <summary>The largest configuration file read; anything longer (or /dev/zero) is refused.</summary>
    public const int MaxFileBytes = 16 << 20;

    /// <summary>What a setting of the file holds; a wrong JSON type is an error, never coerced or ignored.</summary>
    internal enum SettingKind { Bool, String, List, Quant, Int }

    /// <summary>The settings of each section the program reads, by key (case-insensitive, as configuration keys are).</summary>
    internal static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, SettingKind>> Schema =
        new Dictionary<string, IReadOnlyDictionary<string, SettingKind>>(StringComparer.OrdinalIgnoreCase)
        {
            ["BlockWiseCudaGraph"] = new Dictionary<string, SettingKind>(StringComparer.OrdinalIgnoreCase)
            {
                ["Enabled"] = SettingKind.Bool, ["Sizes"] = SettingKind.List, ["Debug"] = SettingKind.Bool,
                ["Exclude"] = SettingKind.List, ["Granularity"] = SettingKind.String, ["MaxSegmentLayers"] = SettingKind.Int,
            },
            ["Run"] = new Dictionary<string, SettingKind>(StringComparer.OrdinalIgnoreCase)
            {
                ["Preset"] = SettingKind.String, ["Quant"] = SettingKind.Quant, ["Backend"] = SettingKind.String,
                ["Tokens"] = SettingKind.List, ["Debug"] = SettingKind.Bool, ["Model"] = SettingKind.String,
                ["ResetDeviceAtExit"] = SettingKind.Bool,
            },
        };

    /// <summary>The keys of section GraphEngine:<paramref name="section"/>, in schema order.</summary>
    public static IReadOnlyList<string> KeysOf(string section) => Schema[section].Keys.ToArray();

    /// <summary>
    /// Reads the whole file once: a directory, a missing file, a file over <see cref="MaxFileBytes"/> and
    /// text that is not UTF-8 are errors naming <paramref name="shown"/>. Pipes and process substitutions
    /// (/dev/stdin, &lt;(...)) are read like files; a FIFO with no writer reads as empty instead of blocking.
    /// </summary>
    internal static string ReadFileText(string shown, string full)
    {
        if (Directory.Exists(full))
            throw new EngineConfigurationException($"configuration file {InputText.Quote(shown)} is a directory, not a JSON file");
        if (!File.Exists(full))
            throw new EngineConfigurationException($"configuration file {InputText.Quote(shown)} does not exist (looked for {InputText.Quote(full)})");
        try
        {
            return InputFile.ReadAllText(full, MaxFileBytes);
        }
        catch (InputFileException e) when (e.Problem == InputFileProblem.TooLarge)
        {
            throw new EngineConfigurationException(
                $"configuration file {InputText.Quote(shown)} is larger than {MaxFileBytes >> 20} MiB; a configuration is a small JSON object", e);
        }
        catch (InputFileException e)
        {
            throw new EngineConfigurationException($"configuration file {InputText.Quote(shown)} {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new EngineConfigurationException($"configuration file {InputText.Quote(shown)} cannot be read: {InputText.OneLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// The file's settings, flattened to configuration keys with their origin ("key GraphEngine:Run:Preset
    /// of /path/graphengine.json"). Duplicate keys, unknown keys (listing the accepted ones), a scalar where a
    /// section belongs and a wrong JSON type for a setting are errors.
    /// </summary>
    internal static OriginConfigurationSource ParseFile(string text, string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new EngineConfigurationException($"configuration file {InputText.Quote(file)} is not valid JSON configuration: {InputText.OneLine(e.Message)}", e);
        }
        var src = new OriginConfigurationSource($"file {file}");
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new EngineConfigurationException($"configuration file {InputText.Quote(file)} is not valid JSON configuration: it must hold a JSON object, not {Kind(root)}");
            foreach (var top in Members(root, "", file, new[] { "GraphEngine" }))
            {
                var sections = Members(RequireObject(top.Value, "GraphEngine", file), "GraphEngine", file, Schema.Keys.ToArray());
                foreach (var sec in sections)
                {
                    string secPath = $"GraphEngine:{sec.Name}";
                    var schema = Schema[sec.Name];
                    foreach (var setting in Members(RequireObject(sec.Value, secPath, file), secPath, file, schema.Keys.ToArray()))
                        AddSetting(src, $"{secPath}:{setting.Name}", schema[setting.Name], setting.Value, file);
                }
            }
        }
        return src;
    }

    /// <summary>The members of an object, each checked: no duplicate (case-insensitive), no unknown name.</summary>
    private static List<JsonProperty> Members(JsonElement obj, string path, string file, string[] accepted)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var list = new List<JsonProperty>();
        string where = path.Length == 0 ? "the top level" : $"section {path}";
        foreach (var p in obj.EnumerateObject())
        {
            if (!seen.Add(p.Name))
                throw new EngineConfigurationException($"duplicate key {InputText.Quote(p.Name)} in {where} of configuration file {InputText.Quote(file)}");
            if (!accepted.Contains(p.Name, StringComparer.OrdinalIgnoreCase))
                throw new EngineConfigurationException(
                    $"unknown key {InputText.Quote(p.Name)} in {where} of configuration file {InputText.Quote(file)}; accepted: {string.Join(", ", accepted)}");
            list.Add(p);
        }
        return list;
    }

    private static JsonElement RequireObject(JsonElement e, string path, string file) =>
        e.ValueKind == JsonValueKind.Object ? e
            : throw new EngineConfigurationException(
                $"key {path} of configuration file {InputText.Quote(file)} is a section and must be a JSON object, got {Kind(e)} {InputText.Quote(e.GetRawText())}");

    private static void AddSetting(OriginConfigurationSource src, string key, SettingKind kind, JsonElement v, string file)
    {
        string origin = $"key {key} of {file}";
        EngineConfigurationException Wrong(string expected) =>
            new($"{origin}: expected {expected}, got {Kind(v)} {InputText.Quote(v.GetRawText())}");
        switch (kind)
        {
            case SettingKind.Bool:
                if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) src.Set(key, v.GetBoolean() ? "true" : "false", origin, false);
                else if (v.ValueKind is JsonValueKind.String) src.Set(key, v.GetString()!, origin, false);
                else if (v.ValueKind is JsonValueKind.Number) src.Set(key, v.GetRawText(), origin, false);
                else throw Wrong("true or false");
                break;
            case SettingKind.Int:
                if (v.ValueKind is JsonValueKind.Number or JsonValueKind.String) src.Set(key, v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText(), origin, false);
                else throw Wrong("an integer");
                break;
            case SettingKind.String:
                if (v.ValueKind != JsonValueKind.String) throw Wrong("a string");
                src.Set(key, v.GetString()!, origin, false);
                break;
            case SettingKind.Quant:
                if (v.ValueKind == JsonValueKind.String) src.Set(key, v.GetString()!, origin, false);
                else if (v.ValueKind == JsonValueKind.Object) src.Set(key, v.GetRawText(), origin, false);
                else throw Wrong("a mode name or a quantization JSON object");
                break;
            case SettingKind.List:
                if (v.ValueKind == JsonValueKind.String) src.Set(key, v.GetString()!, origin, false);
                else if (v.ValueKind == JsonValueKind.Number) src.Set(key, v.GetRawText(), origin, false);
                else if (v.ValueKind == JsonValueKind.Array)
                {
                    int i = 0;
                    foreach (var item in v.EnumerateArray())
                    {
                        string ik = $"{key}:{i++}";
                        if (item.ValueKind == JsonValueKind.String) src.Set(ik, item.GetString()!, $"key {ik} of {file}", false);
                        else if (item.ValueKind == JsonValueKind.Number) src.Set(ik, item.GetRawText(), $"key {ik} of {file}", false);
                        else throw new EngineConfigurationException(
                            $"key {ik} of {file}: expected a number or a string, got {Kind(item)} {InputText.Quote(item.GetRawText())}");
                    }
                    if (i == 0) src.Set(key, "", origin, false);   // an empty list: read as an empty string, as the JSON provider does
                }
                else throw Wrong("a list (a JSON array or a comma-separated string)");
                break;
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };
}
