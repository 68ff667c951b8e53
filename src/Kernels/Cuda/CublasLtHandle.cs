using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class CublasLtHandle : CudaSafeHandle
{
    internal CublasLtHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtDestroy(value);
}
