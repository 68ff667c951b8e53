using GraphEngine.Kernels;
using GraphEngine.Kernels.GroupGemm;

namespace GraphEngine.Layers.Backends;

/// <summary>
/// The device memory one backend owns (weight and scale buffers, its activation workspace), collected as
/// it is allocated: a loader that fails half-way disposes this and frees exactly what it got, and the
/// backend's Dispose frees the rest, newest first.
/// </summary>
internal sealed class OwnedMemory : IDisposable
{
    private readonly List<DeviceMemory> _items = new();

    public Tensor Allocate(Device device, long bytes, string tag, DType dtype, params long[] shape) =>
        Add(device.Allocate(bytes, tag)).AsTensor(dtype, shape);

    public Tensor Rent(DevicePool pool, DType dtype, long[] shape, string tag)
    {
        Add(pool.RentTensor(dtype, shape, out var tensor, tag));
        return tensor;
    }

    private T Add<T>(T memory) where T : DeviceMemory
    {
        _items.Add(memory);
        return memory;
    }

    public void Dispose()
    {
        for (int i = _items.Count - 1; i >= 0; i--) _items[i].Dispose();
        _items.Clear();
    }
}

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

    public static void CheckExpert(this IExpertBackend backend, int expert)
    {
        if (expert < 0 || expert >= backend.Experts)
            throw new ArgumentOutOfRangeException(nameof(expert), expert, $"must be in [0, {backend.Experts})");
    }
}
