using System.Text.Json;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// Typed access to config.json's top-level keys, every failure a one-line <see cref="CheckpointException"/>
/// naming the file and the key. JSON null reads as absent, as transformers treats None as "use the default".
/// </summary>
internal sealed class ConfigReader
{
    private readonly JsonElement _root;

    public ConfigReader(JsonElement root, string path)
    {
        _root = root;
        Path = path;
    }

    public string Path { get; }

    public CheckpointException Error(string key, string problem) => new(Path, key, problem);

    public bool Has(string key) => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    private JsonElement? Find(string key) =>
        _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private JsonElement Need(string key) => Find(key) ?? throw Error(key, "required key is missing");

    public string String(string key) => AsString(key, Need(key));

    public string? OptionalString(string key) => Find(key) is { } v ? AsString(key, v) : null;

    public int Int(string key) => AsInt(key, Need(key));

    public int OptionalInt(string key, int fallback) => Find(key) is { } v ? AsInt(key, v) : fallback;

    public int? OptionalInt(string key) => Find(key) is { } v ? AsInt(key, v) : null;

    public double Double(string key, double fallback) => Find(key) is { } v ? AsDouble(key, v) : fallback;

    public bool Bool(string key, bool fallback)
    {
        if (Find(key) is not { } v) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(key, $"must be true or false, got {Describe(v)}"),
        };
    }

    public IReadOnlyList<int> IntList(string key)
    {
        if (Find(key) is not { } v) return Array.Empty<int>();
        if (v.ValueKind != JsonValueKind.Array) throw Error(key, $"must be a list of integers, got {Describe(v)}");
        var list = new List<int>();
        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int x))
                throw Error($"{key}[{i}]", $"must be an integer, got {Describe(item)}");
            list.Add(x);
            i++;
        }
        return list;
    }

    /// <summary>A positive integer; shapes and counts of zero or less describe no model.</summary>
    public int Positive(string key)
    {
        int v = Int(key);
        return v > 0 ? v : throw Error(key, $"must be positive, got {v}");
    }

    private string AsString(string key, JsonElement v) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error(key, $"must be a string, got {Describe(v)}");

    private int AsInt(string key, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Number) throw Error(key, $"must be an integer, got {Describe(v)}");
        if (!v.TryGetInt32(out int x)) throw Error(key, $"must be a 32-bit integer, got {Describe(v)}");
        return x;
    }

    private double AsDouble(string key, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !double.IsFinite(x))
            throw Error(key, $"must be a finite number, got {Describe(v)}");
        return x;
    }

    private static string Describe(JsonElement e) =>
        $"{e.ValueKind.ToString().ToLowerInvariant()} {CheckpointException.Clip(e.GetRawText())}";
}
