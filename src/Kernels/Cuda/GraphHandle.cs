using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class GraphHandle : CudaSafeHandle
{
    internal GraphHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuGraphDestroy(value);
}
