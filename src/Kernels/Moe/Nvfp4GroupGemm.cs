using System.Numerics;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>
/// nvfp4 (ModelOpt fp4) MoE: the weight quantizer and a Hopper group GEMM that expands fp4 to bf16/fp16
/// in registers (Hopper has no fp4 MMA). w = e2m1(q) · e4m3(block scale per 16 along K) · global (fp32
/// per expert); global = amax / (448 · 6), block scale = e4m3(amax_block / 6 / global),
/// q = e2m1(w / (block scale · global)), nearest even, saturating. Storage (N padded to 128, K to 64, with
/// zeros): q Fp4E2M1 [E, Np, Kp] pre-shuffled (see native/nvfp4.cu), block scales e4m3 [E, Kp/64, Np, 4],
/// global F32 [E]. Activations stay bf16/fp16 [rows, K] with K a multiple of 8 (16-byte loads).
/// </summary>
public abstract class Nvfp4GroupGemm
{
    /// <summary>Elements along K that share one e4m3 block scale.</summary>
    public const int BlockSize = 16;
    /// <summary>K is padded to a multiple of this (one scale row of four blocks).</summary>
    public const int KAlign = 64;
    /// <summary>Largest e2m1 magnitude.</summary>
    public const float E2M1Max = 6f;
    /// <summary>448 · 6: the global scale is amax / GlobalDivisor.</summary>
    public const float GlobalDivisor = Fp8Quant.E4M3Max * E2M1Max;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Nvfp4GroupGemm Create(Device device) =>
        KernelBackend.Create<Nvfp4GroupGemm>(device, cuda => new Nvfp4GroupGemmCuda(cuda), () => new Nvfp4GroupGemmReference());

    /// <paramref name="k"/> rounded up to <see cref="KAlign"/>.
    public static int PadK(int k) => (k + KAlign - 1) / KAlign * KAlign;

    /// <summary>The CUDA kernel a run launches: nvfp4_group_gemm&lt;T, prefix sums&gt;, T the activation type; one
    /// tile for every shape and architecture, so the layout chooses it.</summary>
    public static string Variant(TokenLayout layout) => Nvfp4GroupGemmCuda.KernelName(LaunchTarget.TypeParameter, layout);

    /// <summary>Every name <see cref="Variant"/> can return.</summary>
    public static IReadOnlyList<string> Variants { get; } = new[] { Variant(TokenLayout.PrefixSum), Variant(TokenLayout.Padded) };

    /// <summary>
    /// Quantizes bf16/fp16 weights [E, N, K]. <paramref name="amaxWorkspace"/> I32 [E] is scratch for the
    /// per-expert amax (load time only).
    /// </summary>
    public void QuantizeWeights(ComputeStream stream, Tensor w, Tensor q, Tensor blockScales, Tensor globalScale, Tensor amaxWorkspace)
    {
        ArgumentNullException.ThrowIfNull(stream);
        w.RequireRank(nameof(w), 3).RequireDevice(nameof(w), stream.Device);
        if (!w.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(w)} must be BF16 or F16 [E, N, K], got {w}", nameof(w));
        int e = checked((int)w.Dim(0)), n = checked((int)w.Dim(1)), k = checked((int)w.Dim(2));
        int np = Fp8Quant.Pad128(n), kp = PadK(k);
        q.Require(nameof(q), DType.Fp4E2M1, e, np, kp).RequireDevice(nameof(q), stream.Device);
        blockScales.Require(nameof(blockScales), DType.Fp8E4M3, e, kp / KAlign, np, 4).RequireDevice(nameof(blockScales), stream.Device);
        globalScale.Require(nameof(globalScale), DType.F32, e).RequireDevice(nameof(globalScale), stream.Device);
        amaxWorkspace.Require(nameof(amaxWorkspace), DType.I32, e).RequireDevice(nameof(amaxWorkspace), stream.Device);
        if (e == 0) return;
        QuantizeCore(stream, w, q, blockScales, globalScale, amaxWorkspace, e, n, k, np, kp);
    }

    /// <summary>C_e = A_e · dequant(W_e)ᵀ for every expert, in either token layout. A and C are the layer's type.</summary>
    public void Run(ComputeStream stream, GroupGemmProblem problem, Tensor q, Tensor blockScales, Tensor globalScale)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var dtype = problem.A.DType;
        if (!dtype.IsHalfPrecisionFloat()) throw new ArgumentException($"problem.A must be BF16 or F16, got {problem.A}", nameof(problem));
        problem.Validate(dtype, dtype);
        problem.RequirePlainEpilogue("the nvfp4 group GEMM");
        problem.A.RequireDevice("problem.A", stream.Device);
        problem.C.RequireDevice("problem.C", stream.Device);
        problem.Offsets.RequireDevice("problem.Offsets", stream.Device);
        if (problem.K % 8 != 0)
            throw new ArgumentException($"nvfp4 needs K to be a multiple of 8 (16-byte activation loads), got K={problem.K}", nameof(problem));
        int np = Fp8Quant.Pad128(problem.N), kp = PadK(problem.K);
        q.Require(nameof(q), DType.Fp4E2M1, problem.Experts, np, kp).RequireDevice(nameof(q), stream.Device);
        blockScales.Require(nameof(blockScales), DType.Fp8E4M3, problem.Experts, kp / KAlign, np, 4).RequireDevice(nameof(blockScales), stream.Device);
        globalScale.Require(nameof(globalScale), DType.F32, problem.Experts).RequireDevice(nameof(globalScale), stream.Device);
        if (problem.RowsBound == 0) return;
        RunCore(stream, problem, q, blockScales, globalScale, np, kp);
    }

    /// <summary>Compiles the GEMM variant now (no-op on the reference backend).</summary>
    public virtual void Prepare(DType activation, TokenLayout layout) { }

    /// <summary>The backend's kernel behind <see cref="QuantizeWeights"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeCore(ComputeStream stream, Tensor w, Tensor q, Tensor blockScales, Tensor globalScale, Tensor amax,
        int e, int n, int k, int np, int kp);

    /// <summary>The backend's kernel behind <see cref="Run"/>, called once the arguments are checked.</summary>
    protected abstract void RunCore(ComputeStream stream, GroupGemmProblem problem, Tensor q, Tensor blockScales, Tensor globalScale, int np, int kp);

    // ----- the definition (host) -----

    /// <summary>Byte offset in a row, and nibble (0 low / 1 high), of element k in the shuffled layout.</summary>
    public static (int Byte, int High) Position(int k)
    {
        int chunk = k / KAlign, j = (k % KAlign) / 2;
        int s = j / 8, u = j % 8;
        return (chunk * 32 + (u % 4) * 8 + s * 2 + u / 4, k & 1);
    }

    /// <summary>Index of the e4m3 block scale of (row, k) in one expert's [Kp/64, Np, 4] scales.</summary>
    public static int ScaleIndex(int np, int row, int k) => ((k / KAlign) * np + row) * 4 + (k % KAlign) / BlockSize;

    /// <summary>The per-expert global scale for weights of largest magnitude <paramref name="amax"/>: amax / (448 · 6), or 1 when amax is 0.</summary>
    public static float GlobalScaleOf(float amax) => amax > 0 ? amax / GlobalDivisor : 1f;

    /// <summary>One expert [N, K] into q [Np · Kp / 2] bytes, scales [Kp/64 · Np · 4] bytes and its global scale.</summary>
    /// <remarks>The conformance oracles byte-compare the device's weights with this on every expert, so it runs per
    /// block of 16: one scale, then sixteen codes with the vector form of <see cref="Fp4E2M1.FromFloat"/> (same
    /// float division, same midpoints). The padding (rows past N, K past k) is zeros and codes to 0; only its
    /// scale byte is computed, because it still depends on the global scale.</remarks>
    public static float HostQuantize(ReadOnlySpan<float> w, int n, int k, Span<byte> q, Span<byte> scales)
    {
        int np = Fp8Quant.Pad128(n), kp = PadK(k);
        if (w.Length != (long)n * k || q.Length != (long)np * kp / 2 || scales.Length != (long)np * kp / BlockSize)
            throw new ArgumentException($"HostQuantize: w {w.Length} (expected {n}x{k}), q {q.Length} (expected {np}x{kp / 2}), scales {scales.Length} (expected {np * kp / BlockSize})");
        float gs = GlobalScaleOf(VectorMath.MaxAbs(w));
        q.Clear();
        Span<float> block = stackalloc float[BlockSize];
        Span<int> codes = stackalloc int[BlockSize];
        int rowBytes = kp / 2;
        for (int r = 0; r < np; r++)
        {
            var qRow = q.Slice(r * rowBytes, rowBytes);
            for (int c0 = 0; c0 < kp; c0 += BlockSize)
            {
                int len = r < n ? Math.Clamp(k - c0, 0, BlockSize) : 0;
                if (len < BlockSize) block.Clear();
                if (len > 0) w.Slice(r * k + c0, len).CopyTo(block);
                byte bs = Fp8E4M3.FromFloat(VectorMath.MaxAbs(block) / E2M1Max / gs);
                float denom = Fp8E4M3.ToFloat(bs) * gs;
                scales[ScaleIndex(np, r, c0)] = bs;
                if (len == 0 || !(denom > 0)) continue;
                EncodeBlock(block, denom, codes);
                // Pair u of the block (elements 2u, 2u + 1) lands in the byte Position gives element c0 + 2u.
                int at = (c0 / KAlign) * 32 + (c0 % KAlign) / BlockSize * 2;
                for (int u = 0; u < BlockSize / 2; u++)
                    qRow[at + (u % 4) * 8 + u / 4] = (byte)(codes[2 * u] | (codes[2 * u + 1] << 4));
            }
        }
        return gs;
    }

    /// <summary>codes[j] = <see cref="Fp4E2M1.FromFloat"/>(block[j] / denom) for one block of 16.</summary>
    private static void EncodeBlock(ReadOnlySpan<float> block, float denom, Span<int> codes)
    {
        if (!Vector.IsHardwareAccelerated || BlockSize % Vector<float>.Count != 0)
        {
            for (int j = 0; j < BlockSize; j++) codes[j] = Fp4E2M1.FromFloat(block[j] / denom);
            return;
        }
        var d = new Vector<float>(denom);
        for (int j = 0; j < BlockSize; j += Vector<float>.Count)
        {
            var x = new Vector<float>(block.Slice(j)) / d;
            var m = Vector.Abs(x);
            // The code is the number of midpoints passed, each tie going to the even side (see FromFloat).
            var code = -(Vector.GreaterThan(m, new Vector<float>(0.25f)) + Vector.GreaterThanOrEqual(m, new Vector<float>(0.75f))
                + Vector.GreaterThan(m, new Vector<float>(1.25f)) + Vector.GreaterThanOrEqual(m, new Vector<float>(1.75f))
                + Vector.GreaterThan(m, new Vector<float>(2.5f)) + Vector.GreaterThanOrEqual(m, new Vector<float>(3.5f))
                + Vector.GreaterThan(m, new Vector<float>(5f)));
            var sign = Vector.ShiftRightLogical(Vector.AsVectorInt32(x), 31) << 3;
            Vector.ConditionalSelect(Vector.Equals(x, x), code | sign, new Vector<int>(Fp4E2M1.MaxFinite)).CopyTo(codes.Slice(j));
        }
    }

    /// <summary>One expert's weights as the kernel sees them, float [N, K] (without the global scale when
    /// <paramref name="globalScale"/> is 1).</summary>
    /// <remarks>Per block of 16 the sixteen possible values (e2m1 · block scale) · global are made once, the same
    /// float products, and the nibbles index them.</remarks>
    public static float[] HostDequantize(ReadOnlySpan<byte> q, ReadOnlySpan<byte> scales, float globalScale, int n, int k)
    {
        int np = Fp8Quant.Pad128(n), kp = PadK(k), rowBytes = kp / 2;
        var result = GC.AllocateUninitializedArray<float>(checked(n * k));
        Span<float> values = stackalloc float[16];
        for (int r = 0; r < n; r++)
        {
            var qRow = q.Slice(r * rowBytes, rowBytes);
            var row = result.AsSpan(r * k, k);
            for (int c0 = 0; c0 < k; c0 += BlockSize)
            {
                // One e4m3 scale per block of 16 along K (ScaleIndex is constant over the block).
                float block = Fp8E4M3.ToFloat(scales[ScaleIndex(np, r, c0)]);
                for (int code = 0; code < 16; code++) values[code] = Fp4E2M1.ToFloat((byte)code) * block * globalScale;
                int at = (c0 / KAlign) * 32 + (c0 % KAlign) / BlockSize * 2;
                if (k - c0 >= BlockSize)
                {
                    var dst = row.Slice(c0, BlockSize);
                    for (int u = 0; u < BlockSize / 2; u++)
                    {
                        int v = qRow[at + (u % 4) * 8 + u / 4];
                        dst[2 * u] = values[v & 0xF];
                        dst[2 * u + 1] = values[v >> 4];
                    }
                }
                else
                    for (int c = c0; c < k; c++)
                    {
                        var (pos, hi) = Position(c);
                        row[c] = values[(qRow[pos] >> (4 * hi)) & 0xF];
                    }
            }
        }
        return result;
    }
}
