namespace GraphEngine.Kernels.Moe;

/// <summary>What a group GEMM writes from its fp32 sums.</summary>
public enum GroupGemmEpilogue
{
    /// <summary>C = A · Wᵀ, [rows, N], each element rounded once to the activation type.</summary>
    None,

    /// <summary>
    /// The MoE gate/up GEMM with SwiGLU fused: W is [2F, K] per expert (rows [0, F) the gate, [F, 2F) the up
    /// projection, N = 2F even) and C is [rows, F] with C[r, j] = silu(g) · u, where g and u are the fp32 sums of
    /// columns j and F + j, each rounded to the activation type first (as the unfused product stores them), and
    /// silu(g) · u is computed in fp32 and rounded once: the arithmetic of <see cref="MoePermute.SwiGlu"/> on the
    /// unfused product, so the [rows, 2F] buffer is never written.
    /// </summary>
    SwiGlu,
}
