using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Diagnostics;
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
        // The reference backend compiles nothing; binding a family is where its kernels come to be, so an armed
        // compile fault fires here (on CUDA it fires in GetKernel, through NVRTC).
        ReferenceDevice => ReferenceFamily(device, reference, family ?? typeof(T).Name),
        _ => throw new ArgumentException($"no {family ?? typeof(T).Name} for backend {device.Kind}", nameof(device)),
    };

    private static T ReferenceFamily<T>(Device device, Func<T> reference, string family)
    {
        device.Faults?.Check(FaultPoint.Compile, family);
        return reference();
    }
}
