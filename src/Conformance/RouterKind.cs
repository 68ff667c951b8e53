namespace GraphEngine.Conformance;

/// <summary>Which model's routing a MoE conformance case runs.</summary>
public enum RouterKind
{
    /// <summary>The activation-type router and top-k softmax (Qwen3-MoE's rule).</summary>
    Plain,

    /// <summary>ERNIE-4.5: fp32 router, selection bias, clamped renormalisation, weights in the activation type.</summary>
    Ernie,

    /// <summary>The fp32 router with plain top-k softmax (no selection bias, fp32 weights): the router kernels' other rule.</summary>
    Fp32,
}
