using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class MatmulPreferenceHandle : CudaSafeHandle
{
    internal MatmulPreferenceHandle(IntPtr value) : base(value, IntPtr.Zero) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtMatmulPreferenceDestroy(value);
}
