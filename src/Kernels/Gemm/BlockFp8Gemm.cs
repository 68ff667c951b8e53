using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Reference;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// block_wise_fp8 GEMM: C[m, n] = Σ_kb (A_q[m, kb·] · W_q[n, kb·]) · a_scale[m, kb] · w_scale[n / 128, kb].
/// A_q e4m3 [rows, Kp] with 1x128 activation scales, W_q e4m3 [Np, Kp] with 128x128 block scales
/// (both from <see cref="Fp8Quant"/>, Kp and Np padded to 128); C [rows, N] bf16 or fp16. Each K block's
/// partial product is scaled once in fp32 and added to an fp32 total (DeepGEMM's scheme). Rows at or
/// past the device token count are neither read nor written. Capturable.
/// </summary>
public abstract class BlockFp8Gemm
{
    public static BlockFp8Gemm Create(Device device) => device switch
    {
        CudaDevice cuda => new BlockFp8GemmCuda(cuda),
        ReferenceDevice => new BlockFp8GemmReference(),
        _ => throw new ArgumentException($"no BlockFp8Gemm for backend {device.Kind}", nameof(device)),
    };

    public void MatMul(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c, int rows, DevicePtr tokenCount)
    {
        ArgumentNullException.ThrowIfNull(stream);
        a.RequireRank(nameof(a), 2).Require(nameof(a), DType.Fp8E4M3).RequireDevice(nameof(a), stream.Device);
        long kp = a.Dim(1);
        if (kp % Fp8Quant.Block != 0) throw new ArgumentException($"{nameof(a)} must have K padded to a multiple of 128, got {a}", nameof(a));
        long kb = kp / Fp8Quant.Block;
        aScales.RequireRank(nameof(aScales), 2).Require(nameof(aScales), DType.F32).RequireDevice(nameof(aScales), stream.Device);
        if (aScales.Dim(1) != kb) throw new ArgumentException($"{nameof(aScales)} must be [rows, {kb}], got {aScales}", nameof(aScales));
        w.RequireRank(nameof(w), 2).Require(nameof(w), DType.Fp8E4M3).RequireDevice(nameof(w), stream.Device);
        long np = w.Dim(0);
        if (w.Dim(1) != kp || np % Fp8Quant.Block != 0)
            throw new ArgumentException($"{nameof(w)} must be [Np (multiple of 128), {kp}], got {w}", nameof(w));
        wScales.Require(nameof(wScales), DType.F32, np / Fp8Quant.Block, kb).RequireDevice(nameof(wScales), stream.Device);
        c.RequireRank(nameof(c), 2).RequireDevice(nameof(c), stream.Device);
        if (!c.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(c)} must be BF16 or F16, got {c}", nameof(c));
        long n = c.Dim(1);
        if (n < 1 || n > np || Fp8Quant.Pad128((int)n) != np)
            throw new ArgumentException($"{nameof(c)} has {n} columns but {nameof(w)} holds {np} padded rows", nameof(c));
        if (rows < 0 || rows > a.Rows || rows > aScales.Rows || rows > c.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({a.Rows}, {aScales.Rows}, {c.Rows})]");
        if (rows == 0) return;
        MatMulCore(stream, a, aScales, w, wScales, c, rows, (int)n, (int)kp, tokenCount);
    }

    /// <summary>Compiles the kernel for <paramref name="output"/> now (no-op on the reference backend).</summary>
    public virtual void Prepare(DType output) { }

    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int kp, DevicePtr tokenCount);
}
