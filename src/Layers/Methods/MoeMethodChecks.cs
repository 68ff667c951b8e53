using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;

namespace GraphEngine.Layers.Methods;

/// <summary>Argument checks every expert method makes the same way.</summary>
internal static class MoeMethodChecks
{
    /// <summary>
    /// The problem must be in the method's activation type (in and out), of its E, N, K, with the plain epilogue: the
    /// methods that check here (w4afp8, nvfp4, block-wise fp8) have no fused one (<see cref="MoeMethods.FusesSwiGlu"/>).
    /// </summary>
    public static void CheckProblem(this IMoeMethod method, DType activation, ComputeStream stream, GroupGemmProblem problem)
    {
        ArgumentNullException.ThrowIfNull(stream);
        problem.Validate(activation, activation);
        problem.RequirePlainEpilogue($"the {method.Label} expert method");
        if (problem.Experts != method.Experts || problem.N != method.N || problem.K != method.K)
            throw new ArgumentException($"problem is E={problem.Experts}, N={problem.N}, K={problem.K}; these weights are " +
                $"E={method.Experts}, N={method.N}, K={method.K}", nameof(problem));
    }

    /// <summary>
    /// For the methods that quantize the activations first (w4afp8, w8a8, w4a8): checks the problem, then gives A and C
    /// as [rows, K] / [rows, N] views, the rows the problem carries (all slabs in the padded layout) and, with prefix
    /// sums, the device pointer to offsets[E] (the real row count: rows past it are not quantized; padded slabs are
    /// quantized whole, and the GEMM never reads their rows past a count). Null when the problem has no rows.
    /// </summary>
    public static (Tensor A, Tensor C, int TotalRows, DevicePtr Valid)? QuantizedInput(this IMoeMethod method, DType activation,
        ComputeStream stream, GroupGemmProblem problem, int maxRows)
    {
        method.CheckProblem(activation, stream, problem);
        bool prefix = problem.Layout == TokenLayout.PrefixSum;
        int totalRows = prefix ? problem.RowsBound : checked(method.Experts * problem.RowsBound);
        if (totalRows > maxRows)
            throw new ArgumentOutOfRangeException(nameof(problem), totalRows, $"problem carries {totalRows} rows; this method was built for at most {maxRows}");
        if (totalRows == 0) return null;
        var a = problem.A.Reshape(problem.A.ElementCount / method.K, method.K);
        var c = problem.C.Reshape(problem.C.ElementCount / method.N, method.N);
        var valid = prefix ? problem.Offsets.Ptr + 4L * method.Experts : DevicePtr.Null;
        return (a, c, totalRows, valid);
    }

    /// <summary>The bf16/fp16 weights [E, N, K] on <paramref name="device"/> that a method quantizes there; gives E, N, K.</summary>
    public static (int E, int N, int K) SourceWeights(Tensor weights, Device device)
    {
        weights.RequireRank(nameof(weights), 3).RequireDevice(nameof(weights), device);
        if (!weights.DType.IsHalfPrecisionFloat())
            throw new ArgumentException($"{nameof(weights)} must be BF16 or F16 [E, N, K], got {weights}", nameof(weights));
        return (checked((int)weights.Dim(0)), checked((int)weights.Dim(1)), checked((int)weights.Dim(2)));
    }

    public static void CheckExpert(this IMoeMethod method, int expert)
    {
        if (expert < 0 || expert >= method.Experts)
            throw new ArgumentOutOfRangeException(nameof(expert), expert, $"must be in [0, {method.Experts})");
    }
}
