using System.Text.Json;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// How a checkpoint was quantized before it was saved: config.json's quantization_config (transformers:
/// quant_method fp8, gptq, awq, compressed-tensors, modelopt ...) or ModelOpt's hf_quant_config.json
/// (quantization.quant_algo NVFP4, FP8 ...). The loader reads bf16/fp16/fp32 weights and quantizes them itself
/// (--quant); a pre-quantized checkpoint is refused by its method's name before any tensor is read, instead of
/// failing later on its scale tensors or, worse, loading packed bytes as weights.
/// </summary>
public static class CheckpointQuantization
{
    /// <summary>Throws <see cref="CheckpointException"/> naming the file, the key and the method when <paramref name="ckpt"/> was saved quantized.</summary>
    public static void RefusePrequantized(CheckpointDirectory ckpt)
    {
        ArgumentNullException.ThrowIfNull(ckpt);
        using (var config = Parse(ckpt.ConfigJson, ckpt.ConfigPath))
        {
            if (config.RootElement.ValueKind == JsonValueKind.Object &&
                config.RootElement.TryGetProperty("quantization_config", out var q) && q.ValueKind != JsonValueKind.Null)
                throw Refused(ckpt.ConfigPath, "quantization_config.quant_method", Method(q, "quant_method"));
        }
        if (ckpt.QuantConfigJson is not { } text) return;
        string path = Path.Combine(ckpt.Directory, CheckpointDirectory.QuantConfigFileName);
        using var modelOpt = Parse(text, path);
        var root = modelOpt.RootElement;
        var section = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("quantization", out var s) ? s : root;
        throw Refused(path, "quantization.quant_algo", Method(section, "quant_algo"));
    }

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

    private static string Method(JsonElement section, string key) =>
        section.ValueKind == JsonValueKind.Object && section.TryGetProperty(key, out var m) && m.ValueKind == JsonValueKind.String
            ? m.GetString()!
            : $"(no {key})";

    private static CheckpointException Refused(string path, string key, string method) =>
        new(path, key, $"'{CheckpointException.Clip(method)}': the checkpoint is pre-quantized, and pre-quantized weights are not " +
                       "loaded; load its bf16 or fp16 original and quantize at load time with --quant (e.g. wint4, block_wise_fp8, nvfp4)");
}
