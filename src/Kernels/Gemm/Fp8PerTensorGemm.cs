namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// FP8 GEMM with one fp32 scale per tensor: C[m, n] (bf16) = aScale · wScale · A[m, k] · W[n, k]ᵀ with
/// e4m3 operands and fp32 accumulation. On CUDA this is cuBLASLt's fp8 path; it is the peer that the
/// block_wise_fp8 kernels are measured against. Scales live on the device and are read when the work runs.
/// </summary>
public abstract class Fp8PerTensorGemm : IDisposable
{
    /// <summary>cuBLASLt's fp8 kernels need 16-byte aligned leading dimensions.</summary>
    public const int DimensionMultiple = 16;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Fp8PerTensorGemm Create(Device device) =>
        KernelBackend.Create<Fp8PerTensorGemm>(device, cuda => new Fp8PerTensorGemmCuda(cuda), () => new Fp8PerTensorGemmReference());

    /// <summary>Multiplies rows [0, <paramref name="rows"/>) of <paramref name="a"/>; rows is a host-known bound.</summary>
    public void MatMul(ComputeStream stream, Tensor a, Tensor aScale, Tensor w, Tensor wScale, Tensor c, int rows)
    {
        ArgumentNullException.ThrowIfNull(stream);
        TnOperands.Check(stream, a, w, c, rows, DType.Fp8E4M3, DType.BF16, DimensionMultiple, "fp8 GEMM");
        aScale.Require(nameof(aScale), DType.F32, 1).RequireDevice(nameof(aScale), stream.Device);
        wScale.Require(nameof(wScale), DType.F32, 1).RequireDevice(nameof(wScale), stream.Device);
        if (rows == 0) return;
        MatMulCore(stream, a, aScale, w, wScale, c, rows);
    }

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor aScale, Tensor w, Tensor wScale, Tensor c, int rows);

    /// <summary>Frees the backend's handles and workspace (nothing on the reference backend).</summary>
    public virtual void Dispose() { }

    /// <summary>Decodes an e4m3 byte (bias 7, no infinities, 0x7F/0xFF are NaN) exactly, as cuda_fp8.h does.</summary>
    public static float DecodeE4M3(byte bits)
    {
        int sign = bits >> 7, exp = (bits >> 3) & 0xF, mant = bits & 7;
        if (exp == 0xF && mant == 7) return float.NaN;
        float magnitude = exp == 0 ? mant * (1f / 512f)                                // subnormal: m/8 · 2^-6
                                   : (1f + mant / 8f) * MathF.Pow(2f, exp - 7);
        return sign != 0 ? -magnitude : magnitude;
    }
}
