namespace GraphEngine.Models;

/// <summary>What a <see cref="LayerSpec"/> builds.</summary>
public enum LayerSpecKind
{
    /// <summary>An RMSNorm over the hidden size, optionally adding into the residual stream first.</summary>
    RmsNorm,
    /// <summary>A dense projection from <see cref="LayerSpec.In"/> to <see cref="LayerSpec.Out"/> features.</summary>
    Linear,
    /// <summary>A MoE block with the preset's expert shape.</summary>
    Moe,
    /// <summary>The SwiGLU activation between a dense FFN's gate_up and down projections.</summary>
    SwiGlu,
}

/// <summary>
/// One layer of a preset's stack. <see cref="In"/> and <see cref="Out"/> are feature widths; for an
/// RMSNorm both are the hidden size; for a MoE they are hidden and the expert shape is the preset's.
/// <see cref="FusedResidual"/>: the norm first adds its input into the residual stream and normalizes
/// the sum (FastDeploy's and vLLM's fused_add_rms_norm): every norm but the very first one.
/// <see cref="SwiGluOut"/>: a dense FFN's gate_up projection whose output is gated (SwiGLU) to
/// this width before the down projection.
/// </summary>
public sealed record LayerSpec(string Name, LayerSpecKind Kind, int In, int Out, bool FusedResidual = false, int SwiGluOut = 0)
{
    /// <summary>Weight elements of a dense Linear (out x in); RMSNorm gains count as hidden.</summary>
    public long DenseWeightElements => Kind switch
    {
        LayerSpecKind.Linear => (long)In * Out,
        LayerSpecKind.RmsNorm => In,
        _ => 0,
    };
}

/// <summary>Expands a preset into its layers (names follow the usual checkpoint names).</summary>
public static class LayerPlan
{
    /// <summary>The layers of <paramref name="p"/> in execution order: per decoder layer input_layernorm (fused residual from the second layer on), qkv_proj, o_proj, post_attention_layernorm, then the MLP: gate_up_proj, act_fn and down_proj, or one MoE.</summary>
    public static IReadOnlyList<LayerSpec> Build(ModelPreset p)
    {
        ArgumentNullException.ThrowIfNull(p);
        var list = new List<LayerSpec>(p.Layers * 7);
        foreach (var d in p.Model.DecoderLayers)
        {
            int i = d.Index;
            string l = $"layers.{i}";
            // From the second layer on, the input norm also adds the previous MLP's output to the residual stream.
            list.Add(new LayerSpec($"{l}.input_layernorm", LayerSpecKind.RmsNorm, p.Hidden, p.Hidden, FusedResidual: i > 0));
            list.Add(new LayerSpec($"{l}.self_attn.qkv_proj", LayerSpecKind.Linear, p.Hidden, p.QkvOut));
            // The attention kernel would sit here and turn [q|k|v] into the attention output; no preset has one.
            list.Add(new LayerSpec($"{l}.self_attn.o_proj", LayerSpecKind.Linear, p.AttentionOut, p.Hidden));
            list.Add(new LayerSpec($"{l}.post_attention_layernorm", LayerSpecKind.RmsNorm, p.Hidden, p.Hidden, FusedResidual: true));
            if (d.IsMoe)
            {
                list.Add(new LayerSpec($"{l}.mlp", LayerSpecKind.Moe, p.Hidden, p.Hidden));
            }
            else
            {
                int f = d.DenseFfn;
                list.Add(new LayerSpec($"{l}.mlp.gate_up_proj", LayerSpecKind.Linear, p.Hidden, 2 * f, SwiGluOut: f));
                list.Add(new LayerSpec($"{l}.mlp.act_fn", LayerSpecKind.SwiGlu, 2 * f, f));
                list.Add(new LayerSpec($"{l}.mlp.down_proj", LayerSpecKind.Linear, f, p.Hidden));
            }
        }
        return list;
    }

    /// <summary>Expected number of distinct experts hit by <paramref name="tokens"/> tokens routed top-k
    /// uniformly at random (no replacement within a token): E·(1 − (1 − k/E)^n). Used only when the MoE
    /// layer cannot report the experts it actually hit.</summary>
    public static double ExpectedExpertsHit(MoeShape moe, int tokens)
    {
        if (tokens <= 0) return 0;
        double miss = Math.Pow(1.0 - (double)moe.TopK / moe.Experts, tokens);
        return moe.Experts * (1.0 - miss);
    }

    /// <summary>Floating-point operations of one prefill step over <paramref name="tokens"/> rows
    /// (2 per multiply-add; norms and routing are negligible and not counted).</summary>
    public static double StepFlops(ModelPreset p, int tokens)
    {
        double perToken = 0;
        foreach (var s in Build(p))
            if (s.Kind == LayerSpecKind.Linear) perToken += 2.0 * s.In * s.Out;
        foreach (var d in p.Model.DecoderLayers)
            if (d.Moe is { } m)
                perToken += 2.0 * (m.TopK * (3.0 * p.Hidden * m.ExpertFfn) + 3.0 * p.Hidden * m.SharedExpertFfn) + 2.0 * p.Hidden * m.Experts;
        return perToken * tokens;
    }
}
