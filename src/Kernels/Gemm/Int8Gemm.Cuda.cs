using GraphEngine.Kernels.Cuda;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Gemm;

/// <summary>cuBLASLt int8 × int8 → int32 (compute type 32I, int32 alpha and beta); TN layout as IMMA requires.</summary>
internal sealed class Int8GemmCuda : Int8Gemm
{
    private readonly CublasLtMatmul _lt;

    public Int8GemmCuda(CudaDevice device)
    {
        if (device.Info.ComputeMajor < 8)
            throw new DeviceUnavailableException($"int8 tensor-core GEMM needs compute capability 8.0 or newer; {device.Info.Name} is {device.Info.Architecture}");
        _lt = device.Matmul;
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows)
    {
        if (stream is not CudaStream cs) throw new ArgumentException($"stream is a {stream.GetType().Name}, not a CUDA stream", nameof(stream));
        _lt.Run(cs, rows, checked((int)w.Dim(0)), checked((int)a.Dim(1)), CublasLt.CUDA_R_8I, CublasLt.CUDA_R_32I,
            a.Ptr.Address, w.Ptr.Address, c.Ptr.Address, 0, 0, 0);
    }
}
