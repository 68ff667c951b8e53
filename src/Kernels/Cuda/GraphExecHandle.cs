using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class GraphExecHandle : CudaSafeHandle
{
    internal GraphExecHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuGraphExecDestroy(value);
}
