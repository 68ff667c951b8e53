using System.Globalization;
using System.Text.Json;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Samples.RealModel;

/// <summary>Which dimensions of a head RoPE rotates together (both rotate pair i by frequency i).</summary>
public enum RotaryPairing
{
    /// <summary>Pairs (i, i + D/2): rotate_half of transformers' modeling_llama.py and modeling_qwen3_moe.py.</summary>
    HalfSplit,
    /// <summary>Pairs (2i, 2i + 1): modeling_ernie4_5_moe.py (rotate_half over x[0::2] and x[1::2], cos repeat_interleave(2)).</summary>
    Interleaved,
}

/// <summary>
/// What the sample's attention needs from a checkpoint: head counts and size from the engine's
/// <see cref="ModelDescription"/>, and RoPE from config.json, read here because the engine computes no attention and
/// so its description carries no RoPE. Only default RoPE is implemented; a scaled one (yarn, llama3, dynamic, ...), a
/// partial rotary factor or a sliding window is refused by name rather than computed wrongly.
/// </summary>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (GQA: each serves Heads / KvHeads query heads).</param>
/// <param name="HeadDim">Dimensions per head (even: RoPE rotates pairs).</param>
/// <param name="RopeTheta">RoPE base: inverse frequency of pair i is RopeTheta^(-2i / HeadDim).</param>
/// <param name="RopeThetaSource">Where <paramref name="RopeTheta"/> came from, for the printout.</param>
/// <param name="Pairing">The model's rotary convention.</param>
/// <param name="QkNorm">Qwen3's q_norm / k_norm: RMSNorm over each head before RoPE.</param>
/// <param name="NormEps">Epsilon of q_norm / k_norm (the model's rms_norm_eps).</param>
public sealed record AttentionConfig(int Heads, int KvHeads, int HeadDim, double RopeTheta, string RopeThetaSource,
    RotaryPairing Pairing, bool QkNorm, double NormEps)
{
    /// <summary>transformers' default base: Ernie4_5_MoeConfig.default_theta; 10000 for the other models (the RoPE utils' default).</summary>
    public static double DefaultTheta(ModelArchitecture architecture) => architecture == ModelArchitecture.Ernie45Moe ? 500000.0 : 10000.0;

    /// <summary>Softmax scale: head_dim^-0.5, as every one of these models' attention sets it.</summary>
    public float Scale => (float)(1.0 / Math.Sqrt(HeadDim));

    /// <summary>The attention of <paramref name="model"/> with RoPE read from <paramref name="configJson"/> (config.json at <paramref name="configPath"/>).</summary>
    /// <exception cref="CheckpointException">A RoPE key is malformed or asks for RoPE the sample does not implement.</exception>
    public static AttentionConfig From(ModelDescription model, string configJson, string configPath)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.HeadDim % 2 != 0)
            throw new CheckpointException(configPath, "head_dim", $"is {model.HeadDim}; RoPE rotates pairs of dimensions, so it must be even");
        using var doc = JsonDocument.Parse(configJson);
        var root = doc.RootElement;
        var (theta, source) = Theta(root, model.Architecture, configPath);
        if (Find(root, "partial_rotary_factor") is { } partial && Number(partial, "partial_rotary_factor", configPath) != 1.0)
            throw new CheckpointException(configPath, "partial_rotary_factor", $"is {partial.GetRawText()}; the sample rotates whole heads (1.0)");
        if (Find(root, "use_sliding_window") is { ValueKind: JsonValueKind.True })
            throw new CheckpointException(configPath, "use_sliding_window", "is true; the sample's attention is full causal attention");
        var pairing = model.Architecture == ModelArchitecture.Ernie45Moe ? RotaryPairing.Interleaved : RotaryPairing.HalfSplit;
        return new AttentionConfig(model.Heads, model.KvHeads, model.HeadDim, theta, source, pairing, model.QkNorm, model.RmsNormEps);
    }

    /// <summary>
    /// transformers 5.x writes rope_parameters {rope_type, rope_theta}; older files a top-level rope_theta and an optional
    /// rope_scaling. Either way the type must be default (or absent), and the base is taken from where it is written,
    /// else the class default.
    /// </summary>
    private static (double Theta, string Source) Theta(JsonElement root, ModelArchitecture arch, string path)
    {
        foreach (var key in new[] { "rope_parameters", "rope_scaling" })
        {
            if (Find(root, key) is not { } p) continue;
            if (p.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(path, key, $"must be an object, got {p.ValueKind}");
            string type = (Find(p, "rope_type") ?? Find(p, "type")) is { } t
                ? t.ValueKind == JsonValueKind.String ? t.GetString()! : throw new CheckpointException(path, $"{key}.rope_type", $"must be a string, got {t.ValueKind}")
                : "default";
            if (type != "default")
                throw new CheckpointException(path, $"{key}.rope_type",
                    $"is '{CheckpointException.Clip(type)}'; the sample implements default RoPE only");
        }
        if (Find(root, "rope_parameters") is { } rp && Find(rp, "rope_theta") is { } nested)
            return (Positive(nested, "rope_parameters.rope_theta", path), "config.json rope_parameters.rope_theta");
        if (Find(root, "rope_theta") is { } top) return (Positive(top, "rope_theta", path), "config.json rope_theta");
        return (DefaultTheta(arch), "transformers' default for " + arch);
    }

    private static JsonElement? Find(JsonElement obj, string key) =>
        obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static double Number(JsonElement v, string key, string path) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d)
            ? d
            : throw new CheckpointException(path, key, $"must be a number, got {CheckpointException.Clip(v.GetRawText())}");

    private static double Positive(JsonElement v, string key, string path)
    {
        double d = Number(v, key, path);
        return d > 0 ? d : throw new CheckpointException(path, key, $"must be positive, got {d.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>Heads, RoPE and norm on one line.</summary>
    public override string ToString() =>
        $"{Heads} query / {KvHeads} key-value heads of {HeadDim}, RoPE theta {RopeTheta.ToString("G", CultureInfo.InvariantCulture)} " +
        $"({RopeThetaSource}) pairs {(Pairing == RotaryPairing.Interleaved ? "(2i, 2i+1)" : "(i, i+D/2)")}" +
        (QkNorm ? $", q/k norm eps {NormEps.ToString("G", CultureInfo.InvariantCulture)}" : "");
}
