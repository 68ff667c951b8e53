using System.Text.Json;
using GraphEngine.Layers;

namespace GraphEngine.Cli;

/// <summary>
/// The quantization a model is built with: one mode for dense layers (Linear) and one for the MoE
/// experts. Accepts a mode name ("wint4") or FastDeploy's JSON
/// ({"quantization": "mix_quant", "dense_quant_type": "wint8", "moe_quant_type": "w4afp8"}).
/// </summary>
public sealed record QuantChoice(QuantMode Dense, QuantMode Moe, string Text)
{
    public string Label => Dense == Moe ? Dense.Label() : $"dense {Dense.Label()}, moe {Moe.Label()}";

    public static QuantChoice Parse(string text, string source)
    {
        string t = text.Trim();
        try
        {
            if (!t.StartsWith('{'))
            {
                var m = QuantModes.Parse(t, source);
                return new QuantChoice(m, m, t);
            }
            using var doc = JsonDocument.Parse(t);
            var root = doc.RootElement;
            string? Get(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            string? single = Get("quantization");
            string? dense = Get("dense_quant_type");
            string? moe = Get("moe_quant_type");
            if (single is not null && !single.Equals("mix_quant", StringComparison.OrdinalIgnoreCase))
            {
                var m = QuantModes.Parse(single, $"{source}, key quantization");
                return new QuantChoice(dense is null ? m : QuantModes.Parse(dense, $"{source}, key dense_quant_type"),
                                       moe is null ? m : QuantModes.Parse(moe, $"{source}, key moe_quant_type"), t);
            }
            if (dense is null && moe is null)
                throw new UsageException($"quantization JSON '{t}' (from {source}) names no dense_quant_type or moe_quant_type");
            return new QuantChoice(
                dense is null ? QuantMode.None : QuantModes.Parse(dense, $"{source}, key dense_quant_type"),
                moe is null ? QuantMode.None : QuantModes.Parse(moe, $"{source}, key moe_quant_type"), t);
        }
        catch (JsonException e)
        {
            throw new UsageException($"quantization '{t}' (from {source}) is not a mode name nor valid JSON: {e.Message}");
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
