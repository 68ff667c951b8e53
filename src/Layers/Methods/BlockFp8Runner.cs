using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// What the block_wise_fp8 Linear and the per-expert block-fp8 MoE run alike: an activation workspace rented
/// once (so Forward is capturable), per-token-per-128 activation quantization, the block-scaled fp8 GEMM, and
/// the host side of the stored layout (rows zero-padded to Pad128(K), one scale per 128x128 block).
/// </summary>
internal sealed class BlockFp8Runner
{
    private readonly Fp8Quant _quant;
    private readonly BlockFp8Gemm _gemm;
    private readonly Tensor _aq, _as;

    /// <summary>Rents the workspace for <paramref name="rows"/> rows of K = <paramref name="k"/> into <paramref name="memory"/>,
    /// so the owner's dispose frees it even when construction fails later; tags start with <paramref name="tag"/>.</summary>
    public BlockFp8Runner(LayerContext ctx, OwnedMemory memory, int rows, int k, DType activation, string tag)
    {
        int kp = Fp8Quant.Pad128(k);
        _aq = memory.Rent(ctx.Pool, DType.Fp8E4M3, new long[] { rows, kp }, tag + " act q");
        _as = memory.Rent(ctx.Pool, DType.F32, new long[] { rows, kp / Fp8Quant.Block }, tag + " act scales");
        _quant = Fp8Quant.Create(ctx.Device);
        _gemm = BlockFp8Gemm.Create(ctx.Device);
        _quant.Prepare(activation, Fp8ActScaling.PerToken128);
        _gemm.Prepare(activation);
    }

    /// <summary>e4m3 [rows, Kp] and scales [rows, Kp/128].</summary>
    public (Tensor Q, Tensor Scales) Workspace => (_aq, _as);

    /// <summary>output = dequant(quant(input)) · dequant(w)ᵀ over <paramref name="rows"/> rows, of which the device
    /// count at <paramref name="tokenCount"/> are real.</summary>
    public void Run(ComputeStream stream, Tensor input, Tensor w, Tensor ws, Tensor output, int rows, DevicePtr tokenCount)
    {
        _quant.QuantizeActivations(stream, input, _aq, _as, Fp8ActScaling.PerToken128, rows, tokenCount);
        _gemm.MatMul(stream, _aq, _as, w, ws, output, rows, tokenCount);
    }

    /// <summary>Copies <paramref name="n"/> rows of <paramref name="k"/> bytes into <paramref name="padded"/> rows of Pad128(K).</summary>
    public static void PadRows(ReadOnlySpan<byte> source, int n, int k, Span<byte> padded)
    {
        int kp = Fp8Quant.Pad128(k);
        for (int r = 0; r < n; r++) source.Slice(r * k, k).CopyTo(padded.Slice(r * kp, k));
    }

    /// <summary>w [N, K] = decode(q) · scale of its 128x128 block, from stored rows of <paramref name="kp"/> bytes.</summary>
    public static float[] Dequantize(byte[] q, float[] s, int n, int k, int kp)
    {
        int kb = kp / Fp8Quant.Block;
        var result = new float[(long)n * k];
        Parallel.For(0, n, r =>
        {
            for (int c = 0; c < k; c++)
                result[(long)r * k + c] = Fp8Quant.Decode(q[(long)r * kp + c]) * s[r / Fp8Quant.Block * kb + c / Fp8Quant.Block];
        });
        return result;
    }
}
