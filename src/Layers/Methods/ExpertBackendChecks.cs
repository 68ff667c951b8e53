using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;

namespace GraphEngine.Layers.Methods;

/// <summary>Argument checks every expert backend makes the same way.</summary>
internal static class ExpertBackendChecks
{
    /// <summary>The problem must be in the backend's activation type (in and out) and of its E, N, K.</summary>
    public static void CheckProblem(this IExpertBackend backend, DType activation, ComputeStream stream, GroupGemmProblem problem)
    {
        ArgumentNullException.ThrowIfNull(stream);
        problem.Validate(activation, activation);
        if (problem.Experts != backend.Experts || problem.N != backend.N || problem.K != backend.K)
            throw new ArgumentException($"problem is E={problem.Experts}, N={problem.N}, K={problem.K}; these weights are " +
                $"E={backend.Experts}, N={backend.N}, K={backend.K}", nameof(problem));
    }

    /// <summary>The bf16/fp16 weights [E, N, K] on <paramref name="device"/> that a backend quantizes there; gives E, N, K.</summary>
    public static (int E, int N, int K) SourceWeights(Tensor weights, Device device)
    {
        weights.RequireRank(nameof(weights), 3).RequireDevice(nameof(weights), device);
        if (!weights.DType.IsHalfPrecisionFloat())
            throw new ArgumentException($"{nameof(weights)} must be BF16 or F16 [E, N, K], got {weights}", nameof(weights));
        return (checked((int)weights.Dim(0)), checked((int)weights.Dim(1)), checked((int)weights.Dim(2)));
    }

    public static void CheckExpert(this IExpertBackend backend, int expert)
    {
        if (expert < 0 || expert >= backend.Experts)
            throw new ArgumentOutOfRangeException(nameof(expert), expert, $"must be in [0, {backend.Experts})");
    }
}
