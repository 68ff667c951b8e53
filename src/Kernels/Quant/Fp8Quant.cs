using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Kernels.Quant;

/// <summary>How activation scales are grouped: DeepGEMM's 1x128 blocks, or one scale per token.</summary>
public enum Fp8ActScaling
{
    /// <summary>One fp32 scale per token per 128 channels: scales [rows, Kp / 128] (block_wise_fp8).</summary>
    PerToken128,

    /// <summary>One fp32 scale per token: scales [rows] (w4afp8).</summary>
    PerToken,
}

/// <summary>
/// FP8 e4m3 quantizers: dynamic activation quantization (a capturable kernel run inside every
/// forward) and the 128x128 block weight quantizer (load time). scale = amax / 448 and
/// q = e4m3(x / scale), rounded to nearest even and saturated; an all-zero group gets scale 0 and
/// q = 0. K (and N for weights) is zero-padded to a multiple of 128 (<see cref="Pad128"/>), so
/// GEMMs never need a K tail: padded channels are exact zeros on at least one side of every product.
/// The host functions below are the definition both backends reproduce byte for byte.
/// </summary>
public abstract class Fp8Quant
{
    /// <summary>Block size along K (and N for weights) of the scales; K and N are padded to it.</summary>
    public const int Block = 128;
    /// <summary>The largest e4m3 magnitude: scale = amax / 448.</summary>
    public const float E4M3Max = 448f;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Fp8Quant Create(Device device) =>
        KernelBackend.Create<Fp8Quant>(device, cuda => new Fp8QuantCuda(cuda), () => new Fp8QuantReference());

    /// <paramref name="v"/> rounded up to a multiple of 128.
    public static int Pad128(int v) => (v + Block - 1) / Block * Block;

    /// <summary>
    /// Quantizes rows [0, <paramref name="rows"/>) of <paramref name="x"/> [R, K] into
    /// <paramref name="q"/> [>= rows, Pad128(K)] and <paramref name="scales"/> ([>= rows, Pad128(K)/128]
    /// or [>= rows]). Rows at or past the device token count (if given) are skipped.
    /// </summary>
    public void QuantizeActivations(ComputeStream stream, Tensor x, Tensor q, Tensor scales, Fp8ActScaling scaling,
        int rows, DevicePtr tokenCount)
    {
        ArgumentNullException.ThrowIfNull(stream);
        x.RequireRank(nameof(x), 2).RequireDevice(nameof(x), stream.Device);
        if (!x.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(x)} must be BF16 or F16, got {x}", nameof(x));
        int k = checked((int)x.Dim(1)), kp = Pad128(k);
        q.RequireRank(nameof(q), 2).Require(nameof(q), DType.Fp8E4M3).RequireDevice(nameof(q), stream.Device);
        if (q.Dim(1) != kp) throw new ArgumentException($"{nameof(q)} must be [>= {rows}, {kp}] (K={k} padded to 128), got {q}", nameof(q));
        scales.Require(nameof(scales), DType.F32).RequireDevice(nameof(scales), stream.Device);
        if (scaling == Fp8ActScaling.PerToken128)
        {
            if (scales.Rank != 2 || scales.Dim(1) != kp / Block)
                throw new ArgumentException($"{nameof(scales)} must be [>= {rows}, {kp / Block}] for 1x128 scales, got {scales}", nameof(scales));
        }
        else if (scales.Rank != 1)
            throw new ArgumentException($"{nameof(scales)} must be [>= {rows}] for per-token scales, got {scales}", nameof(scales));
        if (rows < 0 || rows > x.Rows || rows > q.Rows || rows > scales.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({x.Rows}, {q.Rows}, {scales.Rows})]");
        if (rows == 0) return;
        QuantizeActivationsCore(stream, x, q, scales, scaling, rows, k, kp, tokenCount);
    }

    /// <summary>Quantizes <paramref name="w"/> [N, K] into <paramref name="q"/> [Pad128(N), Pad128(K)] with
    /// one scale per 128x128 block, <paramref name="scales"/> [Pad128(N)/128, Pad128(K)/128].</summary>
    public void QuantizeWeightsBlock128(ComputeStream stream, Tensor w, Tensor q, Tensor scales)
    {
        ArgumentNullException.ThrowIfNull(stream);
        w.RequireRank(nameof(w), 2).RequireDevice(nameof(w), stream.Device);
        if (!w.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(w)} must be BF16 or F16, got {w}", nameof(w));
        int n = checked((int)w.Dim(0)), k = checked((int)w.Dim(1));
        int np = Pad128(n), kp = Pad128(k);
        q.Require(nameof(q), DType.Fp8E4M3, np, kp).RequireDevice(nameof(q), stream.Device);
        scales.Require(nameof(scales), DType.F32, np / Block, kp / Block).RequireDevice(nameof(scales), stream.Device);
        if (n == 0 || k == 0) return;
        QuantizeWeightsCore(stream, w, q, scales, n, k, np, kp);
    }

    /// <summary>The backend's kernel behind <see cref="QuantizeActivations"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales,
        Fp8ActScaling scaling, int rows, int k, int kp, DevicePtr tokenCount);

    /// <summary>The backend's kernel behind <see cref="QuantizeWeightsBlock128"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeWeightsCore(ComputeStream stream, Tensor w, Tensor q, Tensor scales, int n, int k, int np, int kp);

    // ----- the definition (host) -----

    /// <summary>The scale of a group with largest magnitude <paramref name="amax"/>: amax / 448.</summary>
    public static float ScaleOf(float amax) => amax / E4M3Max;

    /// <summary>e4m3(<paramref name="x"/> / <paramref name="scale"/>), nearest even, saturated; 0 when the scale is 0.</summary>
    public static byte Quantize(float x, float scale) => scale > 0 ? Fp8E4M3.FromFloat(x / scale) : (byte)0;

    /// <summary>The exact value of e4m3 code <paramref name="q"/>.</summary>
    public static float Decode(byte q) => DecodeTable[q];

    private static readonly float[] DecodeTable = Enumerable.Range(0, 256).Select(b => Fp8E4M3.ToFloat((byte)b)).ToArray();

    /// <summary>Compiles what a forward with <paramref name="activation"/> inputs launches, so the first
    /// forward (possibly inside a capture) does not compile. No-op on the reference backend.</summary>
    public virtual void Prepare(DType activation, Fp8ActScaling scaling) { }

    /// <summary>One activation row: <paramref name="x"/> has K values, <paramref name="q"/> Pad128(K) bytes.</summary>
    public static void HostQuantizeRow(ReadOnlySpan<float> x, Fp8ActScaling scaling, Span<byte> q, Span<float> scales)
    {
        int k = x.Length, kp = Pad128(k);
        if (q.Length != kp) throw new ArgumentException($"q holds {q.Length} bytes, expected {kp}", nameof(q));
        int groups = scaling == Fp8ActScaling.PerToken128 ? kp / Block : 1;
        int width = scaling == Fp8ActScaling.PerToken128 ? Block : kp;
        for (int g = 0; g < groups; g++)
        {
            float amax = 0;
            for (int c = g * width; c < Math.Min(k, (g + 1) * width); c++) amax = MathF.Max(amax, MathF.Abs(x[c]));
            float scale = ScaleOf(amax);
            for (int c = g * width; c < (g + 1) * width; c++) q[c] = c < k ? Quantize(x[c], scale) : (byte)0;
            scales[g] = scale;
        }
    }

    /// <summary>Weights [N, K] (row-major floats) into q [Pad128(N), Pad128(K)] and block scales.</summary>
    public static unsafe void HostQuantizeWeights(ReadOnlySpan<float> w, int n, int k, Span<byte> q, Span<float> scales)
    {
        int np = Pad128(n), kp = Pad128(k), kb = kp / Block;
        if (w.Length != (long)n * k) throw new ArgumentException($"w holds {w.Length} values, expected {n}x{k}", nameof(w));
        if (q.Length != (long)np * kp || scales.Length != np / Block * kb)
            throw new ArgumentException($"q must hold {np}x{kp} bytes and scales {np / Block}x{kb}");
        // Each 128-row band of blocks is independent: the bands run in parallel.
        fixed (float* pw = w)
        fixed (byte* pq = q)
        fixed (float* ps = scales)
        {
            nint wAt = (nint)pw, qAt = (nint)pq, sAt = (nint)ps;
            int wLength = w.Length, qLength = q.Length, sLength = scales.Length;
            void Band(int nb)
            {
                var ws = new ReadOnlySpan<float>((float*)wAt, wLength);
                var qs = new Span<byte>((byte*)qAt, qLength);
                var ss = new Span<float>((float*)sAt, sLength);
                for (int b = 0; b < kb; b++)
                {
                    float amax = 0;
                    for (int r = nb * Block; r < Math.Min(n, (nb + 1) * Block); r++)
                        for (int c = b * Block; c < Math.Min(k, (b + 1) * Block); c++)
                            amax = MathF.Max(amax, MathF.Abs(ws[r * k + c]));
                    float scale = ScaleOf(amax);
                    ss[nb * kb + b] = scale;
                    for (int r = nb * Block; r < (nb + 1) * Block; r++)
                        for (int c = b * Block; c < (b + 1) * Block; c++)
                            qs[r * kp + c] = r < n && c < k ? Quantize(ws[r * k + c], scale) : (byte)0;
                }
            }
            if ((long)n * k < (1L << 20)) for (int nb = 0; nb < np / Block; nb++) Band(nb);
            else Parallel.For(0, np / Block, Band);
        }
    }
}
