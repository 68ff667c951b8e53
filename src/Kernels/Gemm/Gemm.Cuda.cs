using GraphEngine.Kernels.Cuda;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// cuBLASLt bf16/fp16 GEMM, fp32 compute and scale, bias through the BIAS epilogue. The first call of a
/// shape (eager, at warm-up) picks the algorithm; later calls, captured ones included, only launch.
/// </summary>
internal sealed class GemmCuda : Gemm
{
    private readonly CudaDevice _device;
    private readonly CublasLtMatmul _lt;

    public GemmCuda(CudaDevice device)
    {
        _device = device;
        _lt = device.Matmul;
    }

    /// <summary>Distinct problem shapes planned so far.</summary>
    public int PlanCount => _lt.PlanCount;

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, Tensor? bias)
    {
        if (stream is not CudaStream cs) throw new ArgumentException($"stream is a {stream.GetType().Name}, not a CUDA stream", nameof(stream));
        int type = a.DType == DType.BF16 ? CublasLt.CUDA_R_16BF : CublasLt.CUDA_R_16F;
        _lt.Run(cs, rows, checked((int)w.Dim(0)), checked((int)a.Dim(1)), type, type,
            a.Ptr.Address, w.Ptr.Address, c.Ptr.Address, bias?.Ptr.Address ?? 0, 0, 0);
    }

    // The cuBLASLt state belongs to the device and is shared; nothing of its own to release.
}
