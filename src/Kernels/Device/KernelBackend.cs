using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels;

/// <summary>
/// Picks a kernel family's implementation for a device, once: the CUDA launcher on a
/// <see cref="CudaDevice"/>, the managed reference on a <see cref="ReferenceDevice"/>.
/// </summary>
internal static class KernelBackend
{
    /// <param name="family">The family's name in the error for any other backend (default: the type's name).</param>
    /// <summary>The family's implementation for <paramref name="device"/>, made once by the factory for its backend.</summary>
    /// <param name="device">The device the kernels will run on.</param>
    /// <param name="cuda">Makes the CUDA launcher.</param>
    /// <param name="reference">Makes the managed reference.</param>
    public static T Create<T>(Device device, Func<CudaDevice, T> cuda, Func<T> reference, string? family = null) => device switch
    {
        CudaDevice d => cuda(d),
        ReferenceDevice => reference(),
        _ => throw new ArgumentException($"no {family ?? typeof(T).Name} for backend {device.Kind}", nameof(device)),
    };
}
