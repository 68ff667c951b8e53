using System.Text.Json;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// Reads a Hugging Face config.json into a <see cref="ModelDescription"/>. Keys, defaults and rules follow
/// transformers 5.x's own configuration and modeling files, named at each rule below. Keys that shape the
/// weights (hidden_size, layer and head counts, FFN widths, expert counts) are required: save_pretrained
/// writes every model-specific key, so only a hand-edited file lacks them, and guessing a shape would only
/// move the error to the upload. Other keys take the transformers class default when absent or null.
/// </summary>
public static class HfModelConfig
{
    /// <summary>The config.json model_type values this engine can build.</summary>
    public static IReadOnlyList<string> ModelTypes { get; } = new[] { "ernie4_5_moe", "qwen3_moe", "llama", "qwen2", "qwen3" };

    /// <summary>Parses <paramref name="json"/>; the model's name is the checkpoint directory's (or the model_type).</summary>
    public static ModelDescription Parse(string json, string sourcePath) => Parse(json, sourcePath, name: null);

    /// <summary>Parses <paramref name="json"/> read from <paramref name="sourcePath"/> (named in errors) into a description called <paramref name="name"/> (null: the directory's name, else the model_type).</summary>
    /// <exception cref="CheckpointException">The JSON is invalid, a key is missing or out of range, or the model_type is not one of <see cref="ModelTypes"/>.</exception>
    public static ModelDescription Parse(string json, string sourcePath, string? name)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(sourcePath, null, $"is not valid JSON: {CheckpointException.Clip(e.Message)}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(sourcePath, null, $"must be a JSON object, got {doc.RootElement.ValueKind}");
            var r = new ConfigReader(doc.RootElement, sourcePath);
            string modelType = r.String("model_type");
            var arch = modelType switch
            {
                "ernie4_5_moe" => ModelArchitecture.Ernie45Moe,
                "qwen3_moe" => ModelArchitecture.Qwen3Moe,
                "llama" => ModelArchitecture.Llama,
                "qwen2" => ModelArchitecture.Qwen2,
                "qwen3" => ModelArchitecture.Qwen3,
                _ => throw r.Error("model_type",
                    $"unknown model_type '{CheckpointException.Clip(modelType)}' (known: {string.Join(", ", ModelTypes)})"),
            };
            return Build(r, arch, modelType, name ?? DefaultName(sourcePath, modelType));
        }
    }

    private static string DefaultName(string sourcePath, string modelType)
    {
        string? dir = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(sourcePath)));
        return string.Equals(Path.GetFileName(sourcePath), CheckpointDirectory.ConfigFileName, StringComparison.Ordinal)
               && !string.IsNullOrEmpty(dir)
            ? dir
            : modelType;
    }

    private static ModelDescription Build(ConfigReader r, ModelArchitecture arch, string modelType, string name)
    {
        // The engine's FFN and experts are SwiGLU; a different activation would load and compute the wrong function.
        string act = r.OptionalString("hidden_act") ?? "silu";
        if (act != "silu")
            throw r.Error("hidden_act", $"is '{CheckpointException.Clip(act)}'; only silu (SwiGLU) FFNs are supported");

        int hidden = r.Positive("hidden_size");
        int layers = r.Positive("num_hidden_layers");
        int heads = r.Positive("num_attention_heads");
        int vocab = r.Positive("vocab_size");
        // LlamaConfig and Qwen3Config: num_key_value_heads None means multi-head attention.
        int kvHeads = r.OptionalInt("num_key_value_heads", heads);
        if (kvHeads <= 0) throw r.Error("num_key_value_heads", $"must be positive, got {kvHeads}");
        if (heads % kvHeads != 0)
            throw r.Error("num_key_value_heads", $"{kvHeads} does not divide num_attention_heads {heads}");

        int headDim = HeadDim(r, arch, hidden, heads);

        // Class defaults: rms_norm_eps 1e-5 in Ernie4_5_MoeConfig, 1e-6 in the Llama and Qwen configs;
        // tie_word_embeddings True only in Ernie4_5_MoeConfig.
        double eps = r.Double("rms_norm_eps", arch == ModelArchitecture.Ernie45Moe ? 1e-5 : 1e-6);
        if (!(eps > 0)) throw r.Error("rms_norm_eps", $"must be positive, got {eps}");
        bool tie = r.Bool("tie_word_embeddings", arch == ModelArchitecture.Ernie45Moe);

        bool qkvBias, outBias, mlpBias, lmHeadBias = false;
        switch (arch)
        {
            case ModelArchitecture.Ernie45Moe:
                // modular_ernie4_5_moe.py: use_bias goes to q/k/v/o, every MLP (experts, shared experts) and lm_head.
                qkvBias = outBias = mlpBias = lmHeadBias = r.Bool("use_bias", false);
                break;
            case ModelArchitecture.Qwen2:
                // modular_qwen2.py Qwen2Attention: q/k/v always carry a bias, o_proj never; Qwen2MLP has none.
                qkvBias = true;
                outBias = mlpBias = false;
                break;
            case ModelArchitecture.Llama:
                // modeling_llama.py: attention_bias on q/k/v/o, mlp_bias on gate/up/down.
                qkvBias = outBias = r.Bool("attention_bias", false);
                mlpBias = r.Bool("mlp_bias", false);
                break;
            default:
                // modeling_qwen3.py / modeling_qwen3_moe.py Qwen3Attention: attention_bias on q/k/v/o; MLPs have none.
                qkvBias = outBias = r.Bool("attention_bias", false);
                mlpBias = false;
                break;
        }
        bool qkNorm = arch is ModelArchitecture.Qwen3 or ModelArchitecture.Qwen3Moe;

        MoeDescription? moe = null;
        Func<int, bool> isMoe = _ => false;
        if (arch == ModelArchitecture.Ernie45Moe) (moe, isMoe) = ErnieMoe(r, layers);
        else if (arch == ModelArchitecture.Qwen3Moe) (moe, isMoe) = Qwen3Moe(r, layers);

        var perLayer = new LayerDescription[layers];
        bool anyDense = false;
        for (int i = 0; i < layers; i++) anyDense |= !isMoe(i);
        int intermediate = anyDense ? r.Positive("intermediate_size") : r.OptionalInt("intermediate_size", 0);
        for (int i = 0; i < layers; i++)
            perLayer[i] = isMoe(i) ? new LayerDescription(i, moe, 0) : new LayerDescription(i, null, intermediate);

        return new ModelDescription(name, arch, modelType, hidden, layers, heads, kvHeads, headDim, intermediate, eps, vocab,
            tie, qkvBias, outBias, mlpBias, lmHeadBias, qkNorm, moe, perLayer);
    }

    private static int HeadDim(ConfigReader r, ModelArchitecture arch, int hidden, int heads)
    {
        if (r.OptionalInt("head_dim") is { } explicitDim)
            return explicitDim > 0 ? explicitDim : throw r.Error("head_dim", $"must be positive, got {explicitDim}");
        // Qwen3Config declares head_dim = 128; the others fall back to getattr(config, "head_dim", hidden // heads).
        if (arch == ModelArchitecture.Qwen3) return 128;
        if (hidden % heads != 0)
            throw r.Error("num_attention_heads", $"{heads} does not divide hidden_size {hidden} and head_dim is absent");
        return hidden / heads;
    }

    private static (MoeDescription, Func<int, bool>) ErnieMoe(ConfigReader r, int layers)
    {
        int experts = r.Positive("moe_num_experts");
        int topK = TopK(r, "moe_k", experts, "moe_num_experts");
        int ffn = r.Positive("moe_intermediate_size");
        // Ernie4_5_MoeConfig's default is 2 shared experts, not 0.
        int shared = r.OptionalInt("moe_num_shared_experts", 2);
        if (shared < 0) throw r.Error("moe_num_shared_experts", $"must be >= 0, got {shared}");
        // Ernie4_5_MoeConfig: moe_norm_min defaults to 1e-12, the clamp floor of the top-k weight sum.
        double normMin = r.Double("moe_norm_min", 1e-12);
        if (normMin < 0) throw r.Error("moe_norm_min", $"must be >= 0, got {normMin}");

        // configuration_ernie4_5_moe.py: end index -1 means the last layer; defaults start 1, end -1, interval 1.
        int start = r.OptionalInt("moe_layer_start_index", 1);
        int end = r.OptionalInt("moe_layer_end_index", -1);
        int interval = r.OptionalInt("moe_layer_interval", 1);
        if (start < 0) throw r.Error("moe_layer_start_index", $"must be >= 0, got {start}");
        if (end < -1) throw r.Error("moe_layer_end_index", $"must be -1 (last layer) or a layer index, got {end}");
        if (interval < 1) throw r.Error("moe_layer_interval", $"must be >= 1, got {interval}");
        int last = end == -1 ? layers - 1 : end;

        var moe = new MoeDescription(experts, topK, ffn, shared, shared * ffn, MoeRouting.ErnieBiasedSoftmax,
            RouterFp32: true, SelectionBias: true, NormTopKProb: true, NormMin: normMin);
        // modular_ernie4_5_moe.py Ernie4_5_MoeDecoderLayer:
        // ((layer_idx + 1) % moe_layer_interval == 0) and moe_layer_start_index <= layer_idx <= moe_layer_end_index.
        return (moe, i => (i + 1) % interval == 0 && i >= start && i <= last);
    }

    private static (MoeDescription?, Func<int, bool>) Qwen3Moe(ConfigReader r, int layers)
    {
        // Qwen3MoeConfig: num_experts > 0 is part of the layer rule, so zero experts is a dense model.
        // Older configs write num_experts; transformers 5.x's save_pretrained writes num_local_experts (its
        // attribute_map maps one onto the other), as the H200 run with transformers 5.17 showed.
        string expertsKey = !r.Has("num_experts") && r.Has("num_local_experts") ? "num_local_experts" : "num_experts";
        int experts = r.Int(expertsKey);
        if (experts < 0) throw r.Error(expertsKey, $"must be >= 0, got {experts}");
        int step = r.OptionalInt("decoder_sparse_step", 1);
        if (step < 1) throw r.Error("decoder_sparse_step", $"must be >= 1, got {step}");
        var mlpOnly = r.IntList("mlp_only_layers");
        foreach (int l in mlpOnly)
            if (l < 0 || l >= layers)
                throw r.Error("mlp_only_layers", $"names layer {l}, outside [0, {layers})");
        var dense = mlpOnly.ToHashSet();
        if (experts == 0) return (null, _ => false);

        int topK = TopK(r, "num_experts_per_tok", experts, expertsKey);
        int ffn = r.Positive("moe_intermediate_size");
        var moe = new MoeDescription(experts, topK, ffn, 0, 0, MoeRouting.SoftmaxTopK,
            RouterFp32: false, SelectionBias: false, NormTopKProb: r.Bool("norm_topk_prob", false), NormMin: 0);
        // modular_qwen2_moe.py Qwen2MoeDecoderLayer (Qwen3MoeDecoderLayer inherits it): MoE when
        // layer_idx not in mlp_only_layers and num_experts > 0 and (layer_idx + 1) % decoder_sparse_step == 0.
        return (moe, i => !dense.Contains(i) && (i + 1) % step == 0);
    }

    private static int TopK(ConfigReader r, string key, int experts, string expertsKey)
    {
        int k = r.Positive(key);
        return k <= experts ? k : throw r.Error(key, $"{k} exceeds {expertsKey} {experts}");
    }
}
