using System.Numerics;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>
/// w4afp8 MoE group GEMM (after FastDeploy PR #3171) and its weight quantizer. Weights: int4 sign-magnitude (nibble s.mmm),
/// stored [E, Np, Kp] (two per byte, pre-shuffled for the kernel: within each 32-wide K chunk, byte b holds
/// element b low and element b + 16 high), N and K zero-padded to 128. Scales fp32 [E, G, Np] with
/// G = Kp / 128 (group 128) or 1 (per channel), stored as (amax / 7) · 512 because the kernel turns a
/// nibble into the e4m3 byte worth m · 2^-9. Activations: e4m3 [rows, Kp] with one scale per token
/// (<see cref="Fp8Quant"/>, <see cref="Fp8ActScaling.PerToken"/>). Both token layouts; capturable.
/// </summary>
public abstract class W4AFp8GroupGemm
{
    /// <summary>Scale group along K of the grouped variant.</summary>
    public const int GroupSize = 128;

    /// <summary>The e4m3 value of a nibble with magnitude m is m · 2^-9; the stored scale carries 512.</summary>
    public const float NibbleFactor = 512f;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static W4AFp8GroupGemm Create(Device device) =>
        KernelBackend.Create<W4AFp8GroupGemm>(device, cuda => new W4AFp8GroupGemmCuda(cuda), () => new W4AFp8GroupGemmReference());

    /// <summary>Scale groups along <paramref name="kp"/>: Kp / 128 when <paramref name="grouped"/>, else 1.</summary>
    public static int ScaleGroups(int kp, bool grouped) => grouped ? kp / GroupSize : 1;

    /// <summary>The CUDA kernel a run launches: w4afp8_group_gemm&lt;T, prefix sums, grouped scales&gt;, T the output
    /// type; one 64 x 128 tile for every shape and architecture, so the layout and the scales choose it.</summary>
    public static string Variant(TokenLayout layout, bool grouped) => W4AFp8GroupGemmCuda.KernelName(LaunchTarget.TypeParameter, layout, grouped);

    /// <summary>Every name <see cref="Variant"/> can return.</summary>
    public static IReadOnlyList<string> Variants { get; } =
        (from layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded } from g in new[] { false, true } select Variant(layout, g)).ToArray();

    /// <summary>Quantizes bf16/fp16 weights [E, N, K] into <paramref name="q"/> Int4 [E, Np, Kp] and <paramref name="scales"/> F32 [E, G, Np].</summary>
    public void QuantizeWeights(ComputeStream stream, Tensor w, Tensor q, Tensor scales, bool grouped)
    {
        ArgumentNullException.ThrowIfNull(stream);
        w.RequireRank(nameof(w), 3).RequireDevice(nameof(w), stream.Device);
        if (!w.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(w)} must be BF16 or F16 [E, N, K], got {w}", nameof(w));
        int e = checked((int)w.Dim(0)), n = checked((int)w.Dim(1)), k = checked((int)w.Dim(2));
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k);
        if (grouped && kp / GroupSize > 256)
            throw new ArgumentOutOfRangeException(nameof(w), $"K={k} exceeds the quantizer's 256 groups of 128 (K <= 32768)");
        q.Require(nameof(q), DType.Int4, e, np, kp).RequireDevice(nameof(q), stream.Device);
        scales.Require(nameof(scales), DType.F32, e, ScaleGroups(kp, grouped), np).RequireDevice(nameof(scales), stream.Device);
        if (e == 0 || n == 0 || k == 0) return;
        QuantizeCore(stream, w, q, scales, e, n, k, np, kp, grouped);
    }

    /// <summary>
    /// C = dequant(A) · dequant(W_e)ᵀ per expert. <paramref name="a"/> e4m3 [totalRows, Kp] and
    /// <paramref name="aScales"/> [totalRows], <paramref name="c"/> [totalRows, N], where totalRows is
    /// <paramref name="rowsBound"/> (PrefixSum) or experts · rowsBound (Padded, slab e at rows e · rowsBound).
    /// </summary>
    public void Run(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, Tensor a, Tensor aScales, Tensor offsets,
        Tensor q, Tensor scales, bool grouped, Tensor c)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (experts < 1) throw new ArgumentOutOfRangeException(nameof(experts), experts, "must be >= 1");
        if (rowsBound < 0) throw new ArgumentOutOfRangeException(nameof(rowsBound), rowsBound, "must be >= 0");
        q.RequireRank(nameof(q), 3).Require(nameof(q), DType.Int4).RequireDevice(nameof(q), stream.Device);
        if (q.Dim(0) != experts) throw new ArgumentException($"{nameof(q)} holds {q.Dim(0)} experts, expected {experts}", nameof(q));
        int np = checked((int)q.Dim(1)), kp = checked((int)q.Dim(2));
        if (np % GroupSize != 0 || kp % GroupSize != 0) throw new ArgumentException($"{nameof(q)} must be padded to multiples of 128, got {q}", nameof(q));
        scales.Require(nameof(scales), DType.F32, experts, ScaleGroups(kp, grouped), np).RequireDevice(nameof(scales), stream.Device);
        long totalRows = layout == TokenLayout.PrefixSum ? rowsBound : (long)experts * rowsBound;
        a.RequireRank(nameof(a), 2).Require(nameof(a), DType.Fp8E4M3).RequireDevice(nameof(a), stream.Device);
        if (a.Dim(1) != kp || a.Rows < totalRows) throw new ArgumentException($"{nameof(a)} must be [>= {totalRows}, {kp}], got {a}", nameof(a));
        aScales.RequireRank(nameof(aScales), 1).Require(nameof(aScales), DType.F32).RequireDevice(nameof(aScales), stream.Device);
        if (aScales.Rows < totalRows) throw new ArgumentException($"{nameof(aScales)} must hold >= {totalRows} rows, got {aScales}", nameof(aScales));
        offsets.Require(nameof(offsets), DType.I32, layout == TokenLayout.PrefixSum ? experts + 1 : experts).RequireDevice(nameof(offsets), stream.Device);
        c.RequireRank(nameof(c), 2).RequireDevice(nameof(c), stream.Device);
        if (!c.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(c)} must be BF16 or F16, got {c}", nameof(c));
        int n = checked((int)c.Dim(1));
        if (Fp8Quant.Pad128(n) != np) throw new ArgumentException($"{nameof(c)} has {n} columns but {nameof(q)} holds {np} padded rows", nameof(c));
        if (c.Rows < totalRows) throw new ArgumentException($"{nameof(c)} must hold >= {totalRows} rows, got {c}", nameof(c));
        if (rowsBound == 0) return;
        RunCore(stream, layout, experts, rowsBound, a, aScales, offsets, q, scales, grouped, c, n, np, kp);
    }

    /// <summary>Compiles the GEMM variant now (no-op on the reference backend).</summary>
    public virtual void Prepare(DType output, TokenLayout layout, bool grouped) { }

    /// <summary>The backend's kernel behind <see cref="QuantizeWeights"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeCore(ComputeStream stream, Tensor w, Tensor q, Tensor scales, int e, int n, int k, int np, int kp, bool grouped);

    /// <summary>The backend's kernel behind <see cref="Run"/>, called once the arguments are checked.</summary>
    protected abstract void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, Tensor a, Tensor aScales,
        Tensor offsets, Tensor q, Tensor scales, bool grouped, Tensor c, int n, int np, int kp);

    // ----- the definition (host) -----

    /// <summary>Signed value q in [-7, 7] as a sign-magnitude nibble.</summary>
    public static byte ToNibble(int q) => (byte)(q < 0 ? 8 | -q : q);

    /// <summary>The signed value in [-7, 7] of a sign-magnitude <paramref name="nibble"/>.</summary>
    public static int FromNibble(int nibble) => (nibble & 8) != 0 ? -(nibble & 7) : nibble & 7;

    /// <summary>Byte offset and nibble (0 low, 1 high) of element k inside a row of the shuffled layout.</summary>
    public static (int Byte, int High) Position(int k) => ((k >> 5) * 16 + (k & 15), (k >> 4) & 1);

    /// <paramref name="v"/> / <paramref name="scale"/> rounded half to even and clamped to [-7, 7]; 0 when the scale is not positive.
    public static int QuantizeValue(float v, float scale)
    {
        if (!(scale > 0)) return 0;
        return Math.Clamp((int)MathF.Round(v / scale, MidpointRounding.ToEven), -7, 7);
    }

    /// <summary>One expert: <paramref name="w"/> [N, K] into q [Np, Kp / 2] bytes and scales [G, Np] (with the 512).</summary>
    /// <remarks>The conformance oracles byte-compare the device's weights with this on every expert, so it works per
    /// 32-wide chunk (one scale, sixteen bytes) with the vector form of <see cref="QuantizeValue"/>: the same float
    /// division, round half to even and clamp, NaN to 0 as the saturating conversion gives. Padding codes to 0.</remarks>
    public static void HostQuantize(ReadOnlySpan<float> w, int n, int k, bool grouped, Span<byte> q, Span<float> scales)
    {
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = ScaleGroups(kp, grouped);
        if (w.Length != (long)n * k || q.Length != (long)np * kp / 2 || scales.Length != groups * np)
            throw new ArgumentException($"HostQuantize: w {w.Length} (expected {n}x{k}), q {q.Length} (expected {np}x{kp / 2}), scales {scales.Length} (expected {groups}x{np})");
        Span<float> s = groups <= 256 ? stackalloc float[groups] : new float[groups];
        Span<float> chunk = stackalloc float[ChunkK];
        Span<int> nibbles = stackalloc int[ChunkK];
        int rowBytes = kp / 2;
        q.Clear();
        for (int r = 0; r < np; r++)
        {
            var wRow = r < n ? w.Slice(r * k, k) : default;
            for (int g = 0; g < groups; g++)
            {
                int c0 = grouped ? g * GroupSize : 0, c1 = grouped ? c0 + GroupSize : kp;
                float amax = r < n ? VectorMath.MaxAbs(wRow[Math.Min(c0, k)..Math.Min(c1, k)]) : 0f;
                s[g] = amax / 7f;
                scales[g * np + r] = s[g] * NibbleFactor;
            }
            var row = q.Slice(r * rowBytes, rowBytes);
            for (int c0 = 0; c0 < kp; c0 += ChunkK)
            {
                float scale = s[grouped ? c0 / GroupSize : 0];
                int len = Math.Clamp(wRow.Length - c0, 0, ChunkK);
                if (len == 0 || !(scale > 0)) continue;
                if (len < ChunkK) chunk.Clear();
                wRow.Slice(c0, len).CopyTo(chunk);
                QuantizeChunk(chunk, scale, nibbles);
                var dst = row.Slice(c0 / 2, ChunkK / 2);
                for (int b = 0; b < ChunkK / 2; b++) dst[b] = (byte)(nibbles[b] | (nibbles[b + ChunkK / 2] << 4));
            }
        }
    }

    /// <summary>K elements whose nibbles share one 16-byte run of a row (element b low, b + 16 high).</summary>
    private const int ChunkK = 32;

    /// <summary>nibbles[j] = <see cref="ToNibble"/>(<see cref="QuantizeValue"/>(chunk[j], scale)) for a positive scale.</summary>
    private static void QuantizeChunk(ReadOnlySpan<float> chunk, float scale, Span<int> nibbles)
    {
        if (!Vector.IsHardwareAccelerated || ChunkK % Vector<float>.Count != 0)
        {
            for (int j = 0; j < ChunkK; j++) nibbles[j] = ToNibble(QuantizeValue(chunk[j], scale));
            return;
        }
        var d = new Vector<float>(scale);
        for (int j = 0; j < ChunkK; j += Vector<float>.Count)
        {
            var x = new Vector<float>(chunk.Slice(j)) / d;
            var t = Vector.Min(Vector.Max(Vector.Round(x), new Vector<float>(-7f)), new Vector<float>(7f));
            var v = Vector.ConvertToInt32(Vector.ConditionalSelect(Vector.Equals(x, x), t, Vector<float>.Zero));
            Vector.ConditionalSelect(Vector.LessThan(v, Vector<int>.Zero), new Vector<int>(8) | -v, v).CopyTo(nibbles.Slice(j));
        }
    }

    /// <summary>The signed int4 value of element (row, k) of one expert's shuffled bytes.</summary>
    public static int ValueAt(ReadOnlySpan<byte> expertQ, int kp, int row, int k) =>
        FromNibble(expertQ[row * (kp / 2) + (k >> 5) * 16 + (k & 15)] >> ((k >> 2) & 4) & 0xF);

    /// <summary>
    /// Row <paramref name="row"/> of one expert's shuffled bytes as signed int4 values, <paramref name="kp"/> of them
    /// into <paramref name="codes"/>: <see cref="ValueAt"/> for every k, one pass over the row's bytes (each 16-byte run
    /// holds k = 32j .. 32j + 15 in its low nibbles and 32j + 16 .. 32j + 31 in its high ones).
    /// </summary>
    public static void RowValues(ReadOnlySpan<byte> expertQ, int kp, int row, Span<float> codes)
    {
        var bytes = expertQ.Slice(row * (kp / 2), kp / 2);
        codes = codes[..kp];
        ReadOnlySpan<float> value = NibbleValues;
        for (int j = 0; j < kp / 32; j++)
            for (int b = 0; b < 16; b++)
            {
                int v = bytes[16 * j + b];
                codes[32 * j + b] = value[v & 0xF];
                codes[32 * j + 16 + b] = value[v >> 4];
            }
    }

    /// <summary><see cref="FromNibble"/> of each nibble as a float: the checks decode every weight of every expert.</summary>
    private static readonly float[] NibbleValues = Enumerable.Range(0, 16).Select(x => (float)FromNibble(x)).ToArray();

    /// <summary>One expert's weights as the kernel sees them: q · (stored scale / 512), float [N, K].</summary>
    /// <remarks>Per (row, group) the sixteen possible values q · scale are made once, the same float products, and
    /// the nibbles of each 16-byte run index them.</remarks>
    public static float[] HostDequantize(ReadOnlySpan<byte> expertQ, ReadOnlySpan<float> expertScales, int n, int k, bool grouped)
    {
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), rowBytes = kp / 2;
        var result = GC.AllocateUninitializedArray<float>(checked(n * k));
        Span<float> values = stackalloc float[16];
        int span = grouped ? GroupSize : k;
        for (int r = 0; r < n; r++)
        {
            var qRow = expertQ.Slice(r * rowBytes, rowBytes);
            var row = result.AsSpan(r * k, k);
            for (int g0 = 0; g0 < k; g0 += span)
            {
                float scale = expertScales[(grouped ? g0 / GroupSize : 0) * np + r] / NibbleFactor;
                for (int code = 0; code < 16; code++) values[code] = FromNibble(code) * scale;
                int end = Math.Min(k, g0 + span);
                for (int c0 = g0; c0 < end; c0 += ChunkK)
                {
                    if (end - c0 >= ChunkK)
                    {
                        var src = qRow.Slice(c0 / 2, ChunkK / 2);
                        var dst = row.Slice(c0, ChunkK);
                        for (int b = 0; b < ChunkK / 2; b++)
                        {
                            dst[b] = values[src[b] & 0xF];
                            dst[b + ChunkK / 2] = values[src[b] >> 4];
                        }
                    }
                    else
                        for (int c = c0; c < end; c++)
                        {
                            var (b, hi) = Position(c);
                            row[c] = values[(qRow[b] >> (4 * hi)) & 0xF];
                        }
                }
            }
        }
        return result;
    }
}
