namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// The tensor names and shapes transformers 5.x writes for a <see cref="ModelDescription"/>, read from its
/// modeling files: modeling_llama.py (LlamaAttention, LlamaMLP, LlamaModel), modular_qwen2.py,
/// modeling_qwen3.py (q_norm / k_norm over head_dim), modular_qwen3_moe.py (mlp.gate is the
/// Qwen3MoeTopKRouter's weight, mlp.experts the fused Qwen3MoeExperts) and modular_ernie4_5_moe.py
/// (mlp.gate is Ernie4_5_MoeTopKRouter, which owns moe_statics; shared_experts is one MLP). On-disk
/// expert names depend on the <see cref="ExpertLayout"/>; conversion_mapping.py maps between the two.
/// </summary>
public static class TensorNames
{
    /// <summary>The token embedding [vocab, hidden].</summary>
    public const string EmbedTokens = "model.embed_tokens.weight";
    /// <summary>The final RMSNorm's weight [hidden].</summary>
    public const string FinalNorm = "model.norm.weight";
    /// <summary>The LM head [vocab, hidden] (absent when tied to the embedding).</summary>
    public const string LmHead = "lm_head.weight";
    /// <summary>The LM head's bias [vocab], where the model has one.</summary>
    public const string LmHeadBias = "lm_head.bias";

    /// <summary>The name prefix of decoder layer <paramref name="layer"/>.</summary>
    public static string Layer(int layer) => $"model.layers.{layer}";

    /// <summary>The MoE router's weight of <paramref name="layer"/> [experts, hidden].</summary>
    public static string RouterGate(int layer) => $"{Layer(layer)}.mlp.gate.weight";

    /// <summary>ERNIE's e_score_correction_bias [1, experts]: in the original checkpoint names it sits on the MLP,
    /// in 5.x's module tree on the router (conversion_mapping.py renames one to the other).</summary>
    public static string SelectionBias(int layer, ExpertLayout layout) => layout == ExpertLayout.PerExpert
        ? $"{Layer(layer)}.mlp.moe_statics.e_score_correction_bias"
        : $"{Layer(layer)}.mlp.gate.moe_statics.e_score_correction_bias";

    /// <summary>One expert's projection, <paramref name="proj"/> one of gate_proj, up_proj, down_proj.</summary>
    public static string Expert(int layer, int expert, string proj) => $"{Layer(layer)}.mlp.experts.{expert}.{proj}.weight";

    /// <summary>The fused experts' gate_up_proj of <paramref name="layer"/> (<see cref="ExpertLayout.Fused"/>).</summary>
    public static string FusedGateUp(int layer) => $"{Layer(layer)}.mlp.experts.gate_up_proj";

    /// <summary>The fused experts' down_proj of <paramref name="layer"/> (<see cref="ExpertLayout.Fused"/>).</summary>
    public static string FusedDown(int layer) => $"{Layer(layer)}.mlp.experts.down_proj";

    /// <summary>Embedding, final norm and (unless tied) the LM head.</summary>
    public static IReadOnlyList<ExpectedTensor> Global(ModelDescription m)
    {
        var list = new List<ExpectedTensor>
        {
            new(EmbedTokens, new long[] { m.Vocab, m.Hidden }),
            new(FinalNorm, new long[] { m.Hidden }),
        };
        // Tied heads share embed_tokens' storage; save_pretrained drops the alias (remove_tied_weights_from_state_dict).
        if (!m.TieWordEmbeddings) list.Add(new(LmHead, new long[] { m.Vocab, m.Hidden }));
        if (m.LmHeadBias) list.Add(new(LmHeadBias, new long[] { m.Vocab }));
        return list;
    }

    /// <summary>Every tensor of decoder layer <paramref name="layer"/>, in module order.</summary>
    public static IReadOnlyList<ExpectedTensor> ForLayer(ModelDescription m, int layer, ExpertLayout layout = ExpertLayout.PerExpert)
    {
        if (layer < 0 || layer >= m.Layers)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"{m.Name} has layers 0..{m.Layers - 1}");
        string p = Layer(layer);
        var list = new List<ExpectedTensor>
        {
            new($"{p}.input_layernorm.weight", new long[] { m.Hidden }),
            new($"{p}.post_attention_layernorm.weight", new long[] { m.Hidden }),
        };
        Linear(list, $"{p}.self_attn.q_proj", m.QOut, m.Hidden, m.QkvBias);
        Linear(list, $"{p}.self_attn.k_proj", m.KvOut, m.Hidden, m.QkvBias);
        Linear(list, $"{p}.self_attn.v_proj", m.KvOut, m.Hidden, m.QkvBias);
        Linear(list, $"{p}.self_attn.o_proj", m.Hidden, m.QOut, m.OutputBias);
        if (m.QkNorm)
        {
            list.Add(new($"{p}.self_attn.q_norm.weight", new long[] { m.HeadDim }));
            list.Add(new($"{p}.self_attn.k_norm.weight", new long[] { m.HeadDim }));
        }

        var d = m.DecoderLayers[layer];
        if (d.Moe is not { } moe)
        {
            Mlp(list, $"{p}.mlp", m.Hidden, d.DenseFfn, m.MlpBias);
            return list;
        }

        list.Add(new(RouterGate(layer), new long[] { moe.Experts, m.Hidden }, Fp32: moe.RouterFp32));
        if (moe.SelectionBias) list.Add(new(SelectionBias(layer, layout), new long[] { 1, moe.Experts }, Fp32: true));
        if (layout == ExpertLayout.PerExpert)
        {
            for (int e = 0; e < moe.Experts; e++) Mlp(list, $"{p}.mlp.experts.{e}", m.Hidden, moe.ExpertFfn, m.MlpBias);
        }
        else
        {
            // MixtralExperts (which both models' experts derive from) has no bias parameters.
            list.Add(new(FusedGateUp(layer), new long[] { moe.Experts, 2L * moe.ExpertFfn, m.Hidden }));
            list.Add(new(FusedDown(layer), new long[] { moe.Experts, m.Hidden, moe.ExpertFfn }));
        }
        if (moe.SharedExperts > 0) Mlp(list, $"{p}.mlp.shared_experts", m.Hidden, moe.SharedExpertFfn, m.MlpBias);
        return list;
    }

    /// <summary><see cref="Global"/> then every layer's tensors.</summary>
    public static IReadOnlyList<ExpectedTensor> All(ModelDescription m, ExpertLayout layout = ExpertLayout.PerExpert)
    {
        var list = new List<ExpectedTensor>(Global(m));
        for (int i = 0; i < m.Layers; i++) list.AddRange(ForLayer(m, i, layout));
        return list;
    }

    /// <summary>
    /// Which layout a checkpoint uses, from its first MoE layer: the fused gate_up_proj or expert 0's
    /// gate_proj. Dense models answer <see cref="ExpertLayout.PerExpert"/>. Neither present is an error
    /// naming both names, since every later lookup would fail anyway.
    /// </summary>
    public static ExpertLayout DetectLayout(ModelDescription m, Func<string, bool> contains, string source)
    {
        if (m.MoeLayerIndices is not [int first, ..]) return ExpertLayout.PerExpert;
        if (contains(FusedGateUp(first))) return ExpertLayout.Fused;
        if (contains(Expert(first, 0, "gate_proj"))) return ExpertLayout.PerExpert;
        throw new CheckpointException(source, Expert(first, 0, "gate_proj"),
            $"neither this nor {FusedGateUp(first)} is in the checkpoint; layer {first} is MoE");
    }

    /// <summary>The expert layout of <paramref name="checkpoint"/>, as the overload over a lookup decides it.</summary>
    public static ExpertLayout DetectLayout(ModelDescription m, CheckpointDirectory checkpoint) =>
        DetectLayout(m, checkpoint.Contains, checkpoint.Directory);

    private static void Linear(List<ExpectedTensor> list, string prefix, long outFeatures, long inFeatures, bool bias)
    {
        list.Add(new($"{prefix}.weight", new[] { outFeatures, inFeatures }));
        if (bias) list.Add(new($"{prefix}.bias", new[] { outFeatures }));
    }

    private static void Mlp(List<ExpectedTensor> list, string prefix, int hidden, int ffn, bool bias)
    {
        Linear(list, $"{prefix}.gate_proj", ffn, hidden, bias);
        Linear(list, $"{prefix}.up_proj", ffn, hidden, bias);
        Linear(list, $"{prefix}.down_proj", hidden, ffn, bias);
    }
}
