namespace GraphEngine.Kernels.Moe;

/// <summary>
/// How <see cref="MoeRouting.TopKSoftmax(ComputeStream, Tensor, int, DevicePtr, int, in RoutingRule, Tensor, Tensor)"/>
/// turns one token's logits into experts and weights. p = fp32 softmax over all experts.
/// <list type="bullet">
/// <item>No <see cref="SelectionBias"/>: top-k of the logits (the same experts as top-k of p, exactly).</item>
/// <item>With one ([E] fp32): top-k of p + bias in fp32; the bias steers the choice only, the weights stay p
/// (ERNIE-4.5's e_score_correction_bias).</item>
/// </list>
/// Then, when <see cref="Renormalize"/>, each weight is divided by max(sum of the chosen p, <see cref="NormMin"/>)
/// (NormMin = 0 is the plain renormalisation; ERNIE clamps with moe_norm_min), and finally rounded to
/// <see cref="WeightType"/> when that is BF16 or F16 (ERNIE casts the weights to the activation dtype; Qwen3-MoE
/// keeps them fp32). Ties go to the lower expert index on both backends.
/// </summary>
public readonly record struct RoutingRule(
    bool Renormalize, Tensor SelectionBias = default, float NormMin = 0f, DType WeightType = DType.F32)
{
    /// <summary>True when a selection bias tensor is given.</summary>
    public bool HasSelectionBias => !SelectionBias.IsEmpty;

    /// <summary>Kernel code of the weight rounding: 0 none, 1 bf16, 2 fp16.</summary>
    internal int RoundCode => WeightType switch
    {
        DType.BF16 => 1,
        DType.F16 => 2,
        _ => 0,
    };
}
