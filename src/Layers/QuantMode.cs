namespace GraphEngine.Layers;

/// <summary>Weight (and activation) quantization of a layer, named as in FastDeploy.</summary>
public enum QuantMode
{
    /// <summary>Unquantized bf16/fp16 weights.</summary>
    None,
    /// <summary>int8 weights with a per-channel scale, bf16/fp16 activations.</summary>
    WInt8,
    /// <summary>int4 weights with a per-channel or per-group scale, bf16/fp16 activations.</summary>
    WInt4,
    /// <summary>fp8 e4m3 weights with 128x128 block scales and fp8 activations with 1x128 scales.</summary>
    BlockWiseFp8,
    /// <summary>int4 expert weights with fp8 activations (MoE only).</summary>
    W4AFp8,
    /// <summary>int4 expert weights with zero points in groups of 128, bf16/fp16 activations (MoE only; not capturable).</summary>
    Wi4A16,
    /// <summary>fp4 e2m1 expert weights with group-16 scales and a global scale, dequantized to bf16 (MoE only).</summary>
    Nvfp4,
    /// <summary>int8 weights with a per-channel scale, int8 activations with a dynamic per-token scale (int8 tensor cores).</summary>
    W8A8,
    /// <summary>int4 weights (per channel or group-128 scales), int8 activations with a dynamic per-token scale (int8 tensor cores).</summary>
    W4A8,
}

/// <summary>Labels and parsing of <see cref="QuantMode"/>.</summary>
public static class QuantModes
{
    /// <summary>FastDeploy's name for the mode.</summary>
    public static string Label(this QuantMode mode) => mode switch
    {
        QuantMode.None => "none",
        QuantMode.WInt8 => "wint8",
        QuantMode.WInt4 => "wint4",
        QuantMode.BlockWiseFp8 => "block_wise_fp8",
        QuantMode.W4AFp8 => "w4afp8",
        QuantMode.Wi4A16 => "wi4a16",
        QuantMode.Nvfp4 => "nvfp4",
        QuantMode.W8A8 => "w8a8",
        QuantMode.W4A8 => "w4a8",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, $"quant mode {(int)mode} is not a QuantMode"),
    };

    /// <summary>Accepted spellings, lower case; "modelopt_fp4" is FastDeploy's name for nvfp4.</summary>
    public static readonly IReadOnlyDictionary<string, QuantMode> ByName = new Dictionary<string, QuantMode>(StringComparer.OrdinalIgnoreCase)
    {
        ["none"] = QuantMode.None,
        ["bf16"] = QuantMode.None,
        ["fp16"] = QuantMode.None,
        ["wint8"] = QuantMode.WInt8,
        ["wint4"] = QuantMode.WInt4,
        ["block_wise_fp8"] = QuantMode.BlockWiseFp8,
        ["w4afp8"] = QuantMode.W4AFp8,
        ["wi4a16"] = QuantMode.Wi4A16,
        ["nvfp4"] = QuantMode.Nvfp4,
        ["modelopt_fp4"] = QuantMode.Nvfp4,
        ["w8a8"] = QuantMode.W8A8,
        ["w4a8"] = QuantMode.W4A8,
    };

    /// <summary>The mode FastDeploy (or ModelOpt) calls <paramref name="name"/> (trimmed, case-insensitive); an <see cref="ArgumentException"/> naming <paramref name="source"/> and the accepted names otherwise.</summary>
    public static QuantMode Parse(string name, string source)
    {
        if (name is not null && ByName.TryGetValue(name.Trim(), out var m)) return m;
        throw new ArgumentException(
            $"unknown quantization '{name}' (from {source}); accepted: {string.Join(", ", ByName.Keys)}");
    }
}
