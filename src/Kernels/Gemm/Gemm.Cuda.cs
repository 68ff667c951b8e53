using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Gemm;

/// <summary>STUB: cuBLASLt matmul; the foundation work fills it in.</summary>
internal sealed class GemmCuda : Gemm
{
    public GemmCuda(CudaDevice device) => throw new NotImplementedException();

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, Tensor? bias) =>
        throw new NotImplementedException();
}
