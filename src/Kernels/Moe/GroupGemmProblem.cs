namespace GraphEngine.Kernels.Moe;

/// <summary>The two device-side token layouts of a MoE group GEMM (FastDeploy PR #3171's TokenPadding = 0 and TokenPadding = P).</summary>
public enum TokenLayout
{
    /// <summary>Rows sorted by expert, contiguous [totalRows, K]; Offsets is int32 [E + 1] prefix sums (Offsets[0] = 0).</summary>
    PrefixSum,

    /// <summary>Per-expert slabs [E, P, K]; Offsets is int32 [E] real row counts (each &lt;= P).</summary>
    Padded,
}

/// <summary>
/// One group GEMM: for every expert e, C_e = A_e · W_eᵀ where W is [E, N, K] (out x in per expert, in
/// whatever quantized layout the kernel family owns). Everything that varies per step lives on the
/// device (Offsets); <see cref="RowsBound"/> is the host-known bound that sizes grids: total rows for
/// PrefixSum, P for Padded. Blocks past an expert's real rows exit at once, so the problem is capturable.
/// <see cref="Epilogue"/> says what C receives: the product [rows, N], or with <see cref="GroupGemmEpilogue.SwiGlu"/>
/// silu(gate) · up of its two halves, [rows, N / 2].
/// </summary>
public readonly record struct GroupGemmProblem(
    TokenLayout Layout,
    int Experts,
    int N,
    int K,
    int RowsBound,
    Tensor A,
    Tensor Offsets,
    Tensor C,
    GroupGemmEpilogue Epilogue = GroupGemmEpilogue.None)
{
    /// <summary>Columns of C: N, or N / 2 with the SwiGLU epilogue.</summary>
    public int OutputColumns => Epilogue == GroupGemmEpilogue.SwiGlu ? N / 2 : N;

    /// <summary>Checks shapes against the layout and the epilogue; messages name the tensor and its shape.</summary>
    public void Validate(DType activation, DType output)
    {
        if (Experts < 1) throw new ArgumentOutOfRangeException(nameof(Experts), Experts, "must be >= 1");
        if (N < 1 || K < 1) throw new ArgumentOutOfRangeException(nameof(N), $"N={N}, K={K} must be >= 1");
        if (RowsBound < 0) throw new ArgumentOutOfRangeException(nameof(RowsBound), RowsBound, "must be >= 0");
        if (Epilogue is not (GroupGemmEpilogue.None or GroupGemmEpilogue.SwiGlu))
            throw new ArgumentOutOfRangeException(nameof(Epilogue), Epilogue, "unknown group GEMM epilogue");
        if (Epilogue == GroupGemmEpilogue.SwiGlu && N % 2 != 0)
            throw new ArgumentException($"the SwiGLU epilogue pairs gate rows [0, N/2) with up rows [N/2, N): N = {N} must be even", nameof(N));
        int nc = OutputColumns;
        A.Require(nameof(A), activation);
        C.Require(nameof(C), output);
        if (Layout == TokenLayout.PrefixSum)
        {
            A.RequireRank(nameof(A), 2);
            C.RequireRank(nameof(C), 2);
            if (A.Dim(1) != K || A.Rows < RowsBound) throw new ArgumentException($"A must be [>= {RowsBound}, {K}], got {A}", nameof(A));
            if (C.Dim(1) != nc || C.Rows < RowsBound) throw new ArgumentException($"C must be [>= {RowsBound}, {nc}]{EpilogueNote}, got {C}", nameof(C));
            Offsets.Require(nameof(Offsets), DType.I32, Experts + 1);
        }
        else
        {
            A.Require(nameof(A), activation, Experts, RowsBound, K);
            C.Require(nameof(C), output, Experts, RowsBound, nc);
            Offsets.Require(nameof(Offsets), DType.I32, Experts);
        }
    }

    /// <summary>Throws for a fused epilogue: <paramref name="kernel"/> writes the plain product only (the layer runs SwiGLU after it).</summary>
    public void RequirePlainEpilogue(string kernel)
    {
        if (Epilogue != GroupGemmEpilogue.None)
            throw new ArgumentException($"{kernel} has no fused {Epilogue} epilogue: run it with Epilogue = None and MoePermute.SwiGlu after", nameof(Epilogue));
    }

    private string EpilogueNote => Epilogue == GroupGemmEpilogue.SwiGlu ? $" (SwiGLU epilogue: N / 2 = {N / 2} columns)" : "";
}
