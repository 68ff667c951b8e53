using System.Text.Json;

namespace GraphEngine.Models.Checkpoints;

/// <summary>The pre-quantized weight formats the loader reads as stored.</summary>
public enum PrequantizedFormat
{
    /// <summary>ModelOpt NVFP4: weight U8 [N, K/2] (two e2m1 per byte, low nibble first), weight_scale F8_E4M3 [N, K/16],
    /// weight_scale_2 F32 scalar, input_scale F32 scalar (w = e2m1 · weight_scale · weight_scale_2).</summary>
    Nvfp4,

    /// <summary>Block-wise fp8 (transformers' FineGrainedFP8, DeepSeek-V3): weight F8_E4M3 [N, K], weight_scale_inv F32
    /// [ceil(N/128), ceil(K/128)] (w = e4m3 · scale of the weight's 128x128 block).</summary>
    BlockFp8,
}

/// <summary>
/// How a checkpoint was quantized before it was saved, read from config.json's quantization_config
/// (transformers: quant_method fp8 with weight_block_size, or modelopt) or ModelOpt's hf_quant_config.json
/// (quantization.quant_algo). Two formats load as stored (<see cref="PrequantizedFormat"/>); every other
/// method, algorithm or parameter (fp8 per-tensor, a block size other than 128x128, NVFP4 groups other than
/// 16, gptq, awq, compressed-tensors, ...) is refused by name before any tensor is read, instead of failing
/// later on its scale tensors or, worse, loading packed bytes as weights.
/// <see cref="Excluded"/> holds the modules the quantizer left alone (ModelOpt's exclude_modules / ignore,
/// transformers' modules_to_not_convert); the stored dtype still decides per tensor, and a module the list
/// names but the file stores quantized is an error.
/// </summary>
public sealed class CheckpointQuantization
{
    private CheckpointQuantization(PrequantizedFormat format, string file, string method, IReadOnlyList<string> excluded)
    {
        Format = format;
        File = file;
        Method = method;
        Excluded = excluded;
    }

    /// <summary>The weight format.</summary>
    public PrequantizedFormat Format { get; }

    /// <summary>The file that says so (config.json or hf_quant_config.json).</summary>
    public string File { get; }

    /// <summary>The method as the file names it, for messages and the load line ("NVFP4", "fp8 128x128").</summary>
    public string Method { get; }

    /// <summary>Module name patterns the quantizer left unquantized (fnmatch wildcards: * and ?).</summary>
    public IReadOnlyList<string> Excluded { get; }

    /// <summary>Whether <paramref name="module"/> (a tensor name without ".weight") matches an <see cref="Excluded"/> pattern.</summary>
    public bool IsExcluded(string module) => Excluded.Any(p => Glob(p, module));

    /// <summary>
    /// The checkpoint's pre-quantization, or null when it was saved unquantized.
    /// </summary>
    /// <exception cref="CheckpointException">The method, algorithm or a parameter is not supported, or a file is malformed; the message names the file, the key and the value.</exception>
    public static CheckpointQuantization? Read(CheckpointDirectory ckpt)
    {
        ArgumentNullException.ThrowIfNull(ckpt);
        CheckpointQuantization? fromConfig = null;
        string? configMethod = null;
        using (var config = Parse(ckpt.ConfigJson, ckpt.ConfigPath))
        {
            if (config.RootElement.ValueKind == JsonValueKind.Object &&
                config.RootElement.TryGetProperty("quantization_config", out var q) && q.ValueKind != JsonValueKind.Null)
            {
                configMethod = Text(q, "quant_method");
                fromConfig = configMethod?.ToLowerInvariant() switch
                {
                    "fp8" => BlockFp8(q, ckpt.ConfigPath),
                    "modelopt" when ckpt.QuantConfigJson is null => ModelOpt(q, ckpt.ConfigPath, "quantization_config.",
                        "ignore", GroupSizeOfConfigGroups(q, ckpt.ConfigPath)),
                    "modelopt" => null,   // hf_quant_config.json beside it says the same in ModelOpt's own form; read that
                    _ => throw Refused(ckpt.ConfigPath, "quantization_config.quant_method", configMethod ?? "(no quant_method)"),
                };
            }
        }
        if (ckpt.QuantConfigJson is not { } text) return fromConfig;
        string path = Path.Combine(ckpt.Directory, CheckpointDirectory.QuantConfigFileName);
        if (fromConfig is not null)
            throw new CheckpointException(path, "quantization.quant_algo",
                $"is present while config.json's quantization_config says '{CheckpointException.Clip(configMethod!)}'; a checkpoint is quantized one way");
        using var modelOpt = Parse(text, path);
        var root = modelOpt.RootElement;
        bool nested = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("quantization", out _);
        var section = nested ? root.GetProperty("quantization") : root;
        return ModelOpt(section, path, "quantization.", "exclude_modules", null);
    }

    private static CheckpointQuantization BlockFp8(JsonElement q, string path)
    {
        const string p = "quantization_config.";
        if (!q.TryGetProperty("weight_block_size", out var block) || block.ValueKind == JsonValueKind.Null)
            throw Refused(path, p + "weight_block_size", "fp8 per-tensor (no weight_block_size)");
        if (block.ValueKind != JsonValueKind.Array || block.GetArrayLength() != 2 ||
            block.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int b) || b != 128))
            throw Refused(path, p + "weight_block_size", $"fp8 with blocks {CheckpointException.Clip(block.GetRawText())}",
                "block-wise fp8 loads 128x128 blocks only");
        if (Text(q, "activation_scheme") is { } scheme && !scheme.Equals("dynamic", StringComparison.OrdinalIgnoreCase))
            throw Refused(path, p + "activation_scheme", $"fp8 with {scheme} activations",
                "block-wise fp8 quantizes activations dynamically (activation_scheme dynamic)");
        return new CheckpointQuantization(PrequantizedFormat.BlockFp8, path, "fp8 128x128",
            Patterns(q, "modules_to_not_convert", path, p) is { Count: > 0 } m ? m : Patterns(q, "ignored_layers", path, p));
    }

    private static CheckpointQuantization ModelOpt(JsonElement section, string path, string prefix, string excludeKey, int? configGroupSize)
    {
        string algo = Text(section, "quant_algo") ?? "(no quant_algo)";
        if (!algo.Equals("NVFP4", StringComparison.OrdinalIgnoreCase))
            throw Refused(path, prefix + "quant_algo", algo);
        int? group = configGroupSize;
        if (section.ValueKind == JsonValueKind.Object && section.TryGetProperty("group_size", out var g) && g.ValueKind != JsonValueKind.Null)
            group = g.ValueKind == JsonValueKind.Number && g.TryGetInt32(out int gs) ? gs
                : throw new CheckpointException(path, prefix + "group_size", $"must be an integer, got {CheckpointException.Clip(g.GetRawText())}");
        if (group is { } size && size != 16)
            throw Refused(path, prefix + "group_size", $"NVFP4 with group size {size}", "NVFP4 loads one e4m3 scale per 16 weights only");
        return new CheckpointQuantization(PrequantizedFormat.Nvfp4, path, "NVFP4", Patterns(section, excludeKey, path, prefix));
    }

    /// <summary>The weights' group_size in a compressed-tensors style config_groups (config.json's modelopt form), if any.</summary>
    private static int? GroupSizeOfConfigGroups(JsonElement q, string path)
    {
        if (!q.TryGetProperty("config_groups", out var groups) || groups.ValueKind != JsonValueKind.Object) return null;
        foreach (var group in groups.EnumerateObject())
            if (group.Value.ValueKind == JsonValueKind.Object && group.Value.TryGetProperty("weights", out var w) &&
                w.ValueKind == JsonValueKind.Object && w.TryGetProperty("group_size", out var g) && g.ValueKind == JsonValueKind.Number)
                return g.TryGetInt32(out int size) ? size
                    : throw new CheckpointException(path, $"quantization_config.config_groups.{group.Name}.weights.group_size", "must be an integer");
        return null;
    }

    private static IReadOnlyList<string> Patterns(JsonElement section, string key, string path, string prefix)
    {
        if (section.ValueKind != JsonValueKind.Object || !section.TryGetProperty(key, out var list) || list.ValueKind == JsonValueKind.Null)
            return Array.Empty<string>();
        if (list.ValueKind != JsonValueKind.Array || list.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            throw new CheckpointException(path, prefix + key, "must be a list of module names");
        return list.EnumerateArray().Select(v => v.GetString()!).ToArray();
    }

    /// <summary>fnmatch's * (any run, dots included) and ? (one character); everything else literal.</summary>
    internal static bool Glob(string pattern, string name)
    {
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[n])) { p++; n++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = n; }
            else if (star >= 0) { p = star + 1; n = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    private static string? Text(JsonElement section, string key) =>
        section.ValueKind == JsonValueKind.Object && section.TryGetProperty(key, out var m) && m.ValueKind == JsonValueKind.String
            ? m.GetString()
            : null;

    private static JsonDocument Parse(string text, string path)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, null, $"is not valid JSON: {CheckpointException.Clip(e.Message)}");
        }
    }

    private static CheckpointException Refused(string path, string key, string method, string? why = null) =>
        new(path, key, $"'{CheckpointException.Clip(method)}': {why ?? "this pre-quantized format is not loaded"}; the loader reads ModelOpt NVFP4 " +
                       "(group 16), block-wise fp8 (128x128, dynamic activations) and unquantized bf16/fp16/fp32 checkpoints " +
                       "(quantize those at load time with --quant)");
}
