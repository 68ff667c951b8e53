using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class StreamHandle : CudaSafeHandle
{
    internal StreamHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuStreamDestroy(value);
}
