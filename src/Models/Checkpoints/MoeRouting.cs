namespace GraphEngine.Models.Checkpoints;

/// <summary>How a MoE layer turns router logits into the experts a token visits and their weights.</summary>
public enum MoeRouting
{
    /// <summary>
    /// ERNIE 4.5 (transformers Ernie4_5_MoeTopKRouter): logits from an fp32 router on fp32 activations,
    /// p = softmax(logits); experts chosen by top-k of p + e_score_correction_bias (the bias steers the
    /// choice only); weights p[idx] / max(sum(p[idx]), moe_norm_min).
    /// </summary>
    ErnieBiasedSoftmax,

    /// <summary>
    /// Qwen3-MoE (transformers Qwen2MoeTopKRouter, reused by Qwen3Moe): logits from the router in the model
    /// dtype, p = softmax in fp32, top-k of p, divided by their sum only when norm_topk_prob is true.
    /// </summary>
    SoftmaxTopK,
}
