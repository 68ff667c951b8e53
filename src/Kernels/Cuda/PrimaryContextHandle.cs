using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>A retained primary context; releasing it drops the device's reference.</summary>
internal sealed class PrimaryContextHandle : CudaSafeHandle
{
    private readonly int _device;
    internal PrimaryContextHandle(IntPtr context, int device) : base(context, IntPtr.Zero) => _device = device;

    /// <summary>The device ordinal (CUdevice) whose primary context this is.</summary>
    internal int Device => _device;

    protected override int Release(IntPtr value)
    {
        CudaContext.Forget(value);
        return CuDriver.cuDevicePrimaryCtxRelease(_device);
    }
}
