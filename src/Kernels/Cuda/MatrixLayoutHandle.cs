using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class MatrixLayoutHandle : CudaSafeHandle
{
    internal MatrixLayoutHandle(IntPtr value) : base(value, IntPtr.Zero) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtMatrixLayoutDestroy(value);
}
