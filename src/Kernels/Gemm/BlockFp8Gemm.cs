using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

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
    /// <summary>
    /// The GEMM for <paramref name="device"/>. <paramref name="variant"/> null: each call runs the kernel
    /// <see cref="ChooseVariant"/> picks; otherwise every call runs that kernel (conformance runs each
    /// variant this way, so `graphengine check` covers every kernel the rule can pick on any GPU). Only
    /// the CUDA backend has variants; one it cannot run is refused here.
    /// </summary>
    public static BlockFp8Gemm Create(Device device, BlockFp8GemmVariant? variant = null) => device switch
    {
        CudaDevice cuda => new BlockFp8GemmCuda(cuda, variant),
        ReferenceDevice when variant is null => new BlockFp8GemmReference(),
        ReferenceDevice => throw new ArgumentException($"the reference backend has no block_fp8 GEMM variants; got {variant}", nameof(variant)),
        _ => throw new ArgumentException($"no BlockFp8Gemm for backend {device.Kind}", nameof(device)),
    };

    /// <summary>
    /// The launcher's rule, a pure function of the GPU architecture and the problem shape: the wgmma kernel
    /// on sm_90 (Hopper, compiled as sm_90a; 2.2-2.9x the mma.sync kernel on an H200 at every measured
    /// shape, docs/quantization.md), the mma.sync kernel on any other fp8 GPU (sm_89 and later: wgmma is
    /// sm_90a only). The shape does not change the pick today; it is an argument so a shape rule would
    /// stay a pure function that tests and conformance can enumerate.
    /// </summary>
    /// <param name="rows">Rows the launch covers (the host bound; the device token count may be fewer).</param>
    /// <param name="n">Output columns.</param>
    /// <param name="kp">K padded to 128.</param>
    /// <param name="computeMajor">The GPU's compute capability, major part.</param>
    /// <param name="computeMinor">The GPU's compute capability, minor part.</param>
    public static BlockFp8GemmVariant ChooseVariant(int computeMajor, int computeMinor, int rows, int n, int kp)
    {
        if (!HasFp8Mma(computeMajor, computeMinor))
            throw new NotSupportedException($"the block_fp8 GEMM needs fp8 tensor cores (sm_89 or later); got sm_{computeMajor}{computeMinor}");
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kp);
        return IsHopper(computeMajor, computeMinor) ? BlockFp8GemmVariant.Wgmma : BlockFp8GemmVariant.MmaSync;
    }

    /// <summary>The variants <see cref="ChooseVariant"/> can return on an architecture, over all shapes.</summary>
    public static IReadOnlyList<BlockFp8GemmVariant> ChoosableVariants(int computeMajor, int computeMinor) =>
        !HasFp8Mma(computeMajor, computeMinor) ? Array.Empty<BlockFp8GemmVariant>()
        : IsHopper(computeMajor, computeMinor) ? new[] { BlockFp8GemmVariant.Wgmma }
        : new[] { BlockFp8GemmVariant.MmaSync };

    /// <summary>The kernel instance a variant runs, T for the output type: what `graphengine check --list` names.</summary>
    public static string KernelName(BlockFp8GemmVariant variant) => BlockFp8GemmCuda.KernelName(LaunchTarget.TypeParameter, variant);

    /// <summary>The variants that can run on an architecture (what <see cref="Create"/> accepts): on Hopper
    /// both, elsewhere mma.sync only.</summary>
    public static IReadOnlyList<BlockFp8GemmVariant> SupportedVariants(int computeMajor, int computeMinor) =>
        !HasFp8Mma(computeMajor, computeMinor) ? Array.Empty<BlockFp8GemmVariant>()
        : IsHopper(computeMajor, computeMinor) ? new[] { BlockFp8GemmVariant.Wgmma, BlockFp8GemmVariant.MmaSync }
        : new[] { BlockFp8GemmVariant.MmaSync };

    private static bool HasFp8Mma(int major, int minor) => major * 10 + minor >= 89;
    private static bool IsHopper(int major, int minor) => (major, minor) == (9, 0);

    /// <summary>C [rows, N] from <paramref name="a"/> e4m3 [>= rows, Kp] with <paramref name="aScales"/> [>= rows, Kp/128] and <paramref name="w"/> e4m3 [Np, Kp] with <paramref name="wScales"/> [Np/128, Kp/128], for rows [0, <paramref name="rows"/>) below <paramref name="tokenCount"/>; output <paramref name="c"/> bf16/fp16.</summary>
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

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.; <paramref name="n"/> output columns, <paramref name="kp"/> K padded to 128.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int kp, DevicePtr tokenCount);
}

/// <summary>The CUDA kernels of the block_fp8 GEMM (native/gemm/block_fp8_gemm.cu).</summary>
public enum BlockFp8GemmVariant
{
    /// <summary>block_fp8_gemm: mma.sync m16n8k32 e4m3, 8 warps, cp.async double buffering (sm_89+).</summary>
    MmaSync,

    /// <summary>block_fp8_gemm_wgmma: one warpgroup per 64 x 128 tile, wgmma.m64n128k32 from a 4-stage
    /// cp.async ring (sm_90a only).</summary>
    Wgmma,
}
