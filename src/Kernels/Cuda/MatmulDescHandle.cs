using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class MatmulDescHandle : CudaSafeHandle
{
    internal MatmulDescHandle(IntPtr value) : base(value, IntPtr.Zero) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtMatmulDescDestroy(value);
}
