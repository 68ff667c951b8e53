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
    public static T Create<T>(Device device, Func<CudaDevice, T> cuda, Func<T> reference, string? family = null) => device switch
    {
        CudaDevice d => cuda(d),
        ReferenceDevice => reference(),
        _ => throw new ArgumentException($"no {family ?? typeof(T).Name} for backend {device.Kind}", nameof(device)),
    };
}
