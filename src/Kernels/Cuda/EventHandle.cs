using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class EventHandle : CudaSafeHandle
{
    internal EventHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuEventDestroy(value);
}
