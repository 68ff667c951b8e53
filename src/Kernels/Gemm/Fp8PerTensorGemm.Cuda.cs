using GraphEngine.Kernels.Cuda;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Gemm;

/// <summary>cuBLASLt fp8 (e4m3 × e4m3 → bf16) with per-tensor scale pointers; TN layout as fp8 requires.</summary>
internal sealed class Fp8PerTensorGemmCuda : Fp8PerTensorGemm
{
    private readonly CudaDevice _device;
    private readonly CublasLtMatmul _lt;

    public Fp8PerTensorGemmCuda(CudaDevice device)
    {
        if (device.Info.ComputeMajor * 10 + device.Info.ComputeMinor < 89)
            throw new DeviceUnavailableException($"fp8 GEMM needs compute capability 8.9 or newer; {device.Info.Name} is {device.Info.Architecture}");
        _device = device;
        _lt = device.Matmul;
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScale, Tensor w, Tensor wScale, Tensor c, int rows)
    {
        if (stream is not CudaStream cs) throw new ArgumentException($"stream is a {stream.GetType().Name}, not a CUDA stream", nameof(stream));
        _lt.Run(cs, rows, checked((int)w.Dim(0)), checked((int)a.Dim(1)), CublasLt.CUDA_R_8F_E4M3, CublasLt.CUDA_R_16BF,
            a.Ptr.Address, w.Ptr.Address, c.Ptr.Address, 0, aScale.Ptr.Address, wScale.Ptr.Address);
    }

    // The cuBLASLt state belongs to the device and is shared; nothing of its own to release.
}
