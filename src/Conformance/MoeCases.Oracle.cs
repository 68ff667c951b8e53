using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;

namespace GraphEngine.Conformance;

/// <summary>
/// The MoE layer's float64 oracle: routing from float64 logits of the host's router weight, experts from the
/// host's quantization of the host's source weights, every valid token.
/// </summary>
public static partial class MoeCases
{
    /// <summary>
    /// One expert projection as the host quantizer defines it: codes or values of at most 12 significant bits
    /// [N, K], per-(row, group) scales (null: none), the group along K (0: one per row), the weights the kernel
    /// effectively multiplies (codes times scales) for the byte-for-byte check, and the largest distance of those
    /// from the source in half quantization steps (0 when exact). w4afp8's codes span Pad128(K) columns (zeros
    /// past K), as its kernel reads them. Unquantized weights are the source itself, not a copy.
    /// </summary>
    internal sealed record ExpertOperands(ReadOnlyMemory<float> Values, float[]? Scales, int Group, ReadOnlyMemory<float> Dequantized, double HalfStepWorst)
    {
        /// <summary>Arrays of <see cref="Values"/> and <see cref="Dequantized"/> taken from <see cref="ArrayPool{T}.Shared"/>.</summary>
        public float[][] Rented { get; init; } = [];

        /// <summary>Gives the rented arrays back; the operands must not be used after.</summary>
        public void Release()
        {
            foreach (var a in Rented) ArrayPool<float>.Shared.Return(a);
        }
    }

    /// <summary>
    /// A [count] float buffer: from the shared pool when <paramref name="rented"/> is not null (the array is added to
    /// it), so a check over many large experts reuses a few buffers instead of faulting in gigabytes per case.
    /// </summary>
    private static Memory<float> Buffer(int count, List<float[]>? rented)
    {
        if (rented is null) return GC.AllocateUninitializedArray<float>(count);
        var a = ArrayPool<float>.Shared.Rent(count);
        rented.Add(a);
        return a.AsMemory(0, count);
    }

    /// <summary>
    /// |dequantized - source| in half steps <paramref name="halfStep"/>, plus a few 2^-24 of the value for the fp32
    /// rounding of w / scale and of q · scale; 0 when exact.
    /// </summary>
    private const double TwoToMinus21 = 1.0 / (1 << 21);

    private static double HalfSteps(float dequantized, float source, float halfStep)
    {
        double err = Math.Abs((double)dequantized - source);
        return err == 0 ? 0 : err / (halfStep + Math.Abs(source) * TwoToMinus21);
    }

    /// <summary>
    /// Integer codes <paramref name="q"/> of one segment as floats into <paramref name="values"/> and times
    /// <paramref name="scale"/> (one fp32 product, as the kernels scale them) into <paramref name="deq"/>; returns the
    /// worst <see cref="HalfSteps"/> of those from <paramref name="source"/>.
    /// </summary>
    private static double CodesTimesScale(ReadOnlySpan<int> q, float scale, ReadOnlySpan<float> source, Span<float> values, Span<float> deq)
    {
        int lanes = q.Length / Vector<float>.Count;
        var qv = MemoryMarshal.Cast<int, Vector<int>>(q[..(lanes * Vector<float>.Count)]);
        var vv = MemoryMarshal.Cast<float, Vector<float>>(values[..(lanes * Vector<float>.Count)]);
        var dv = MemoryMarshal.Cast<float, Vector<float>>(deq[..(lanes * Vector<float>.Count)]);
        Vector<float> vs = new(scale);
        for (int v = 0; v < lanes; v++)
        {
            var codes = Vector.ConvertToSingle(qv[v]);
            vv[v] = codes;
            dv[v] = codes * vs;
        }
        for (int i = lanes * Vector<float>.Count; i < q.Length; i++)
        {
            values[i] = q[i];
            deq[i] = q[i] * scale;
        }
        return WorstHalfSteps(deq, source, scale / 2);
    }

    /// <summary>
    /// The largest <see cref="HalfSteps"/>(deq[i], source[i], half) over a segment with one half step: vector lanes in
    /// double (the same ratios as the scalar tail), since the checks run it over every weight of every expert.
    /// </summary>
    private static double WorstHalfSteps(ReadOnlySpan<float> deq, ReadOnlySpan<float> source, float half)
    {
        if (!(half > 0))
        {
            double w0 = 0;
            for (int i = 0; i < deq.Length; i++) w0 = Math.Max(w0, HalfSteps(deq[i], source[i], half));
            return w0;
        }
        int lanes = deq.Length / Vector<float>.Count;
        var dv = MemoryMarshal.Cast<float, Vector<float>>(deq[..(lanes * Vector<float>.Count)]);
        var sv = MemoryMarshal.Cast<float, Vector<float>>(source[..(lanes * Vector<float>.Count)]);
        Vector<double> vhalf = new(half), slack = new(TwoToMinus21), worstv = Vector<double>.Zero;
        for (int v = 0; v < lanes; v++)
        {
            Vector.Widen(dv[v], out var d0, out var d1);
            Vector.Widen(sv[v], out var s0, out var s1);
            // A zero error gives 0, as HalfSteps does (the denominator is at least half > 0).
            worstv = Vector.Max(worstv, Vector.Abs(d0 - s0) / (vhalf + Vector.Abs(s0) * slack));
            worstv = Vector.Max(worstv, Vector.Abs(d1 - s1) / (vhalf + Vector.Abs(s1) * slack));
        }
        double worst = 0;
        for (int i = 0; i < Vector<double>.Count; i++) worst = Math.Max(worst, worstv[i]);
        for (int i = lanes * Vector<float>.Count; i < deq.Length; i++) worst = Math.Max(worst, HalfSteps(deq[i], source[i], half));
        return worst;
    }

    /// <summary>
    /// The largest <see cref="HalfSteps"/> over one nvfp4 block of scale <paramref name="unit"/> (e4m3 block scale times
    /// the global one), each element's half step from the e2m1 spacing at its magnitude: 0.5 below 2, 1 below 4, 2 above
    /// (values past 6 saturate by less than 0.4). Vector lanes in double, the scalar form for the tail.
    /// </summary>
    private static double E2M1WorstHalfSteps(ReadOnlySpan<float> deq, ReadOnlySpan<float> source, double unit)
    {
        static float Half(double v, double unit) => (float)((v < 2 ? 0.25 : v < 4 ? 0.5 : 1.0) * unit);
        double worst = 0;
        int done = 0;
        if (unit > 0)
        {
            int lanes = deq.Length / Vector<float>.Count;
            var dv = MemoryMarshal.Cast<float, Vector<float>>(deq[..(lanes * Vector<float>.Count)]);
            var sv = MemoryMarshal.Cast<float, Vector<float>>(source[..(lanes * Vector<float>.Count)]);
            Vector<double> vunit = new(unit), two = new(2.0), four = new(4.0), slack = new(TwoToMinus21), worstv = Vector<double>.Zero;
            Vector<double> Step(Vector<double> a) =>
                Vector.ConditionalSelect(Vector.LessThan(a / vunit, two), new Vector<double>(0.25),
                    Vector.ConditionalSelect(Vector.LessThan(a / vunit, four), new Vector<double>(0.5), Vector<double>.One)) * vunit;
            for (int v = 0; v < lanes; v++)
            {
                Vector.Widen(dv[v], out var d0, out var d1);
                Vector.Widen(sv[v], out var s0, out var s1);
                var a0 = Vector.Abs(s0);
                var a1 = Vector.Abs(s1);
                // The half step rounded to float, as the scalar form passes it.
                Vector.Widen(Vector.Narrow(Step(a0), Step(a1)), out var h0, out var h1);
                var e0 = Vector.Abs(d0 - s0);
                var e1 = Vector.Abs(d1 - s1);
                // A zero error is 0 even where a tiny unit rounds the half step to 0 (HalfSteps' early return).
                worstv = Vector.Max(worstv, Vector.ConditionalSelect(Vector.Equals(e0, Vector<double>.Zero), Vector<double>.Zero, e0 / (h0 + a0 * slack)));
                worstv = Vector.Max(worstv, Vector.ConditionalSelect(Vector.Equals(e1, Vector<double>.Zero), Vector<double>.Zero, e1 / (h1 + a1 * slack)));
            }
            for (int i = 0; i < Vector<double>.Count; i++) worst = Math.Max(worst, worstv[i]);
            done = lanes * Vector<float>.Count;
        }
        for (int i = done; i < deq.Length; i++)
        {
            double v = unit > 0 ? Math.Abs(source[i]) / unit : 0;
            worst = Math.Max(worst, HalfSteps(deq[i], source[i], Half(v, unit)));
        }
        return worst;
    }

    /// <summary>Host quantization of one expert's [N, K] source weights <paramref name="source"/> in <paramref name="mode"/>.</summary>
    /// <remarks>With <paramref name="pooled"/> the code and dequantized arrays come from the shared pool: call <see cref="ExpertOperands.Release"/>.</remarks>
    internal static ExpertOperands QuantizeExpert(QuantMode mode, GroupSize group, ReadOnlyMemory<float> source, int n, int k, bool pooled = false)
    {
        var w = source.Span;
        double worst = 0;
        var rented = pooled ? new List<float[]>() : null;
        switch (mode)
        {
            case QuantMode.None:
                return new ExpertOperands(source, null, 0, source, 0);
            case QuantMode.WInt8:
            case QuantMode.WInt4:
            case QuantMode.W8A8:
            case QuantMode.W4A8:
            case QuantMode.Wi4A16:
            {
                // w8a8 / w4a8 weights follow the weight-only rule too; their int8 activations are the oracle's ExpertMlp's business.
                // wi4a16 stores q + 8 with zero 8: (q + 8) - 8 = q exactly in bf16, so it multiplies q · scale too.
                int qmax = mode is QuantMode.WInt8 or QuantMode.W8A8 ? 127 : 7;
                int gsize = mode == QuantMode.Wi4A16 ? Wi4A16GroupGemm.GroupSize : group.IsPerChannel ? k : group.Size;
                int groups = k / gsize;
                var valuesMemory = Buffer(n * k, rented);
                var deqMemory = Buffer(n * k, rented);
                var values = valuesMemory.Span;
                var deq = deqMemory.Span;
                var scales = new float[n * groups];
                var q = new int[gsize];
                for (int r = 0; r < n; r++)
                    for (int g = 0; g < groups; g++)
                    {
                        int at = r * k + g * gsize;
                        float s = ExpertWeightMath.QuantizeSegment(w.Slice(at, gsize), qmax, q);
                        scales[r * groups + g] = s;
                        worst = Math.Max(worst, CodesTimesScale(q.AsSpan(0, gsize), s, w.Slice(at, gsize), values.Slice(at, gsize), deq.Slice(at, gsize)));
                    }
                return new ExpertOperands(valuesMemory, scales, gsize == k ? 0 : gsize, deqMemory, worst) { Rented = rented?.ToArray() ?? [] };
            }
            case QuantMode.W4AFp8:
            {
                bool grouped = !group.IsPerChannel;
                int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = W4AFp8GroupGemm.ScaleGroups(kp, grouped);
                var qb = new byte[np * kp / 2];
                var stored = new float[groups * np];
                W4AFp8GroupGemm.HostQuantize(w, n, k, grouped, qb, stored);
                // Codes over the padded K (the kernel's zero tail), so a K that is not a multiple of 128 keeps its groups.
                var scales = new float[n * groups];
                var codesMemory = Buffer(n * kp, rented);
                var codes = codesMemory.Span;
                int span = grouped ? W4AFp8GroupGemm.GroupSize : kp;
                for (int r = 0; r < n; r++)
                    for (int g = 0; g < groups; g++) scales[r * groups + g] = stored[g * np + r] / 512f;   // the nibble's 2^-9, undone
                var deq = W4AFp8GroupGemm.HostDequantize(qb, stored, n, k, grouped);
                for (int r = 0; r < n; r++)
                {
                    W4AFp8GroupGemm.RowValues(qb, kp, r, codes.Slice(r * kp, kp));
                    for (int c0 = 0; c0 < k; c0 += span)
                    {
                        int len = Math.Min(span, k - c0);
                        worst = Math.Max(worst, WorstHalfSteps(deq.AsSpan(r * k + c0, len), w.Slice(r * k + c0, len), scales[r * groups + c0 / span] / 2));
                    }
                }
                return new ExpertOperands(codesMemory, scales, grouped ? span : 0, deq, worst) { Rented = rented?.ToArray() ?? [] };
            }
            case QuantMode.Nvfp4:
            {
                int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k);
                var qb = new byte[np * kp / 2];
                var bs = new byte[np * kp / Nvfp4GroupGemm.BlockSize];
                float global = Nvfp4GroupGemm.HostQuantize(w, n, k, qb, bs);
                // e2m1 times its e4m3 block scale has at most 5 significant bits: exact; the global scale per row.
                // HostDequantize multiplies (e2m1 · block scale) · global, and the first product is exact: scaling the
                // unscaled values by the global scale gives the same floats without decoding every nibble twice.
                var unscaled = Nvfp4GroupGemm.HostDequantize(qb, bs, 1f, n, k);
                var deq = GC.AllocateUninitializedArray<float>(n * k);
                for (int i = 0; i < deq.Length; i++) deq[i] = unscaled[i] * global;
                for (int r = 0; r < n; r++)
                    for (int c0 = 0; c0 < k; c0 += Nvfp4GroupGemm.BlockSize)
                    {
                        // One e4m3 scale per block of 16 along K.
                        double unit = Fp8E4M3.ToFloat(bs[Nvfp4GroupGemm.ScaleIndex(np, r, c0)]) * (double)global;
                        int len = Math.Min(Nvfp4GroupGemm.BlockSize, k - c0);
                        worst = Math.Max(worst, E2M1WorstHalfSteps(deq.AsSpan(r * k + c0, len), w.Slice(r * k + c0, len), unit));
                    }
                return new ExpertOperands(unscaled, Enumerable.Repeat(global, n).ToArray(), 0, deq, worst);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "no MoE expert quantizer");
        }
    }

    /// <summary>Expert <paramref name="x"/>'s [N, K] slice of a host [E, N, K] array (a view, not a copy).</summary>
    private static ReadOnlyMemory<float> ExpertSlice(float[] all, int x, int n, int k) => all.AsMemory((int)((long)x * n * k), n * k);

    /// <summary>
    /// a · Wᵀ in float64 for activations a [m, K] that may carry any double values: split into two 12-bit
    /// halves so each goes through <see cref="Float64.MatMulT"/> exactly.
    /// </summary>
    private static double[] Project(double[] a, int m, ExpertOperands w, int n, int k)
    {
        var (hi, lo) = Float64.Split(a);
        var p = Float64.MatMulT(hi, m, w.Values, n, k, w.Group, bScales: w.Scales);
        var q = Float64.MatMulT(lo, m, w.Values, n, k, w.Group, bScales: w.Scales);
        for (long i = 0; i < p.Length; i++) p[i] += q[i];
        return p;
    }

    /// <summary>Rows of e4m3 codes (decoded) and one scale per row and K group, as the per-token activation quantizer writes them.</summary>
    private static (float[] Codes, float[] Scales) QuantizeTokens(float[] a, int m, int k, int group, bool int8)
    {
        if (int8) return QuantizeTokensInt8(a, m, k, group);
        int kp = Fp8Quant.Pad128(k), groups = group == 0 ? 1 : k / group;
        var codes = new float[(long)m * k];
        var scales = new float[m * groups];
        Parallel.For(0, m, r =>
        {
            var q = new byte[kp];
            var s = new float[1];
            Fp8Quant.HostQuantizeRow(a.AsSpan(r * k, k), Fp8ActScaling.PerToken, q, s);
            for (int c = 0; c < k; c++) codes[(long)r * k + c] = Fp8Quant.Decode(q[c]);
            for (int g = 0; g < groups; g++) scales[r * groups + g] = s[0];
        });
        return (codes, scales);
    }

    /// <summary>The int8 per-token codes (as floats) and scales of w8a8 / w4a8, the scale repeated per weight group as MatMulT takes it.</summary>
    private static (float[] Codes, float[] Scales) QuantizeTokensInt8(float[] a, int m, int k, int group)
    {
        int kp = Fp8Quant.Pad128(k), groups = group == 0 ? 1 : k / group;
        var codes = new float[(long)m * k];
        var scales = new float[m * groups];
        Parallel.For(0, m, r =>
        {
            var q = new sbyte[kp];
            float s = Int8Quant.HostQuantizeRow(a.AsSpan(r * k, k), q);
            for (int c = 0; c < k; c++) codes[(long)r * k + c] = q[c];
            for (int g = 0; g < groups; g++) scales[r * groups + g] = s;
        });
        return (codes, scales);
    }

    private static float Round(double v, DType t) => HalfBits.ToFloat(HalfBits.FromFloat((float)v, t), t);

    /// <summary>
    /// down · (silu(gate · x) · (up · x)) for the rows <paramref name="x"/> [m, H] of one expert. w4afp8, w8a8 and w4a8
    /// round the gate/up output and the SwiGLU output to the activation type and quantize both GEMMs' inputs per token
    /// (e4m3, or int8) with the host quantizer, because their kernels quantize exactly those bf16 values; every other
    /// mode rounds nothing.
    /// </summary>
    private static double[] ExpertMlp(float[] x, int m, ExpertOperands up, ExpertOperands down, int h, int f, QuantMode mode, DType act)
    {
        double[] hv;
        // Modes whose kernels quantize activations (e4m3 or int8 per token) see the bf16 values the previous kernel stored.
        bool fp8 = mode is QuantMode.W4AFp8 or QuantMode.W8A8 or QuantMode.W4A8;
        bool int8 = mode is QuantMode.W8A8 or QuantMode.W4A8;
        if (fp8)
        {
            var (codes, scales) = QuantizeTokens(x, m, h, up.Group, int8);
            hv = Float64.MatMulT(codes, m, up.Values, 2 * f, h, up.Group, scales, up.Scales);
        }
        else
        {
            hv = Float64.MatMulT(x, m, up.Values, 2 * f, h, up.Group, bScales: up.Scales);
        }
        var a = new double[(long)m * f];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < f; j++)
            {
                double g = hv[(long)r * 2 * f + j], u = hv[(long)r * 2 * f + f + j];
                if (fp8) { g = Round(g, act); u = Round(u, act); }
                double v = g / (1 + Math.Exp(-g)) * u;
                a[(long)r * f + j] = fp8 ? Round(v, act) : v;
            }
        if (!fp8) return Project(a, m, down, h, f);
        var (ac, asc) = QuantizeTokens(Array.ConvertAll(a, v => (float)v), m, f, down.Group, int8);
        return Float64.MatMulT(ac, m, down.Values, h, f, down.Group, asc, down.Scales);
    }

    /// <summary>The routing a layer case checks and its oracle uses: float64 logits and probabilities of every valid token.</summary>
    internal sealed record Routing64(double[] Logits, double[] Probs, double[] Scores);

    /// <summary>
    /// Logits x · Wgᵀ in float64 from the host's router weight (rounded to bf16/fp16 for an activation-type
    /// router, as transformers' F.linear in that type does), softmax, and scores with the selection bias.
    /// </summary>
    internal static Routing64 Route64(Spec spec, float[] x, int n)
    {
        var hw = MoeHostWeights.For(spec);
        int e = spec.Shape.Experts, h = spec.Shape.Hidden;
        bool fp32 = spec.Fp32Router;
        double[] logits = fp32
            ? RouterFp32(x, n, hw.Router, e, h)
            : Float64.MatMulT(x, n, hw.Router, e, h);
        if (!fp32) for (int i = 0; i < logits.Length; i++) logits[i] = Round(logits[i], spec.Activation);
        var probs = new double[n * e];
        var scores = new double[n * e];
        for (int t = 0; t < n; t++)
        {
            var p = Softmax64(logits.AsSpan(t * e, e).ToArray());
            for (int j = 0; j < e; j++)
            {
                probs[t * e + j] = p[j];
                scores[t * e + j] = p[j] + (spec.Biased ? hw.SelectionBias[j] : 0);
            }
        }
        return new Routing64(logits, probs, scores);
    }

    /// <summary>The fp32 router's logits in float64 (its weights have 24-bit mantissas, so plain double dot products).</summary>
    private static double[] RouterFp32(float[] x, int n, float[] w, int e, int h)
    {
        var l = new double[n * e];
        Parallel.For(0, n, t =>
        {
            for (int j = 0; j < e; j++) l[t * e + j] = Float64.Dot(x.AsSpan(t * h, h), w.AsSpan(j * h, h));
        });
        return l;
    }

    /// <summary>Routing weight of (token, slot) from float64 probabilities of the chosen experts, as the rule renormalises and rounds it.</summary>
    private static double[] Weights64(Spec spec, RoutingRule rule, Routing64 r, int[] ids, int n)
    {
        int e = spec.Shape.Experts, k = spec.Shape.TopK;
        var w = new double[n * k];
        for (int t = 0; t < n; t++)
        {
            double sum = 0;
            for (int s = 0; s < k; s++) sum += r.Probs[t * e + Math.Clamp(ids[t * k + s], 0, e - 1)];
            double denom = rule.Renormalize ? Math.Max(sum, rule.NormMin) : 1;
            for (int s = 0; s < k; s++)
            {
                double v = r.Probs[t * e + Math.Clamp(ids[t * k + s], 0, e - 1)] / denom;
                w[t * k + s] = rule.WeightType == DType.F32 ? v : Round(v, rule.WeightType);
            }
        }
        return w;
    }

    /// <summary>
    /// The whole MoE in float64 for every valid token, from the layer's input, the host's weights quantized on
    /// the host and the float64 routing (the device's expert choice is used only where it matches the float64
    /// one or differs at a checked near-tie). Returns (tokens, values [n, H]) and the quantizer checks: the
    /// device's expert weights equal the host quantizer's bit for bit, and those lie within half a step of the source.
    /// </summary>
    internal static (int[] Rows, double[] Values) Oracle(Rig rig, int n) => OracleWithChecks(rig, n).Oracle;

    internal static ((int[] Rows, double[] Values) Oracle, CaseResult Quantizers) OracleWithChecks(Rig rig, int n)
    {
        var spec = rig.Spec;
        var layer = rig.Layer;
        var hw = MoeHostWeights.For(spec);
        int e = spec.Shape.Experts, k = spec.Shape.TopK, h = spec.Shape.Hidden, f = spec.Shape.Ffn;
        var act = spec.Activation;
        var x = rig.Input.SliceRows(0, n).DownloadFloats();
        var ids = layer.TopIds.SliceRows(0, n).DownloadInts();
        var routing = Route64(spec, x, n);
        var weights = Weights64(spec, layer.Rule, routing, ids, n);

        var pairs = new List<int>[e];
        for (int ex = 0; ex < e; ex++) pairs[ex] = new List<int>();
        for (int t = 0; t < n; t++)
            for (int s = 0; s < k; s++)
                pairs[Math.Clamp(ids[t * k + s], 0, e - 1)].Add(t * k + s);

        var contrib = new double[n * k][];
        var mismatched = new int[e];
        var halfRatio = new double[e];
        // One expert per core at a time: each holds its quantized operands and the device's weights, and a worker
        // blocked on a download must not make the pool start more of them.
        Parallel.For(0, e, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, ex =>
        {
            var upSrc = ExpertSlice(hw.GateUp, ex, 2 * f, h);
            var downSrc = ExpertSlice(hw.Down, ex, h, f);
            var up = QuantizeExpert(spec.Mode, spec.Group, upSrc, 2 * f, h, pooled: true);
            var down = QuantizeExpert(spec.Mode, spec.Group, downSrc, h, f, pooled: true);
            try
            {
                mismatched[ex] = DeviceMismatches(layer.GateUp, ex, up.Dequantized.Span) + DeviceMismatches(layer.Down, ex, down.Dequantized.Span);
                halfRatio[ex] = Math.Max(up.HalfStepWorst, down.HalfStepWorst);
                var mine = pairs[ex];
                if (mine.Count > 0) contribute(ex, mine, up, down);
            }
            finally
            {
                up.Release();
                down.Release();
            }
        });
        void contribute(int ex, List<int> mine, ExpertOperands up, ExpertOperands down)
        {
            var xs = new float[(long)mine.Count * h];
            for (int p = 0; p < mine.Count; p++) Array.Copy(x, (long)(mine[p] / k) * h, xs, (long)p * h, h);
            var ys = ExpertMlp(xs, mine.Count, up, down, h, f, spec.Mode, act);
            for (int p = 0; p < mine.Count; p++)
            {
                var y = new double[h];
                double wt = weights[mine[p]];
                for (int c = 0; c < h; c++) y[c] = ys[(long)p * h + c] * wt;
                contrib[mine[p]] = y;
            }
        }
        var result = new double[(long)n * h];
        for (int t = 0; t < n; t++)
            for (int s = 0; s < k; s++)
            {
                var y = contrib[t * k + s];
                for (int c = 0; c < h; c++) result[(long)t * h + c] += y[c];
            }
        if (spec.SharedFfn > 0)
        {
            int fs = spec.SharedFfn;
            var sgu = Float64.MatMulT(x, n, hw.SharedGateUp, 2 * fs, h);
            var a = new double[(long)n * fs];
            for (int t = 0; t < n; t++)
                for (int j = 0; j < fs; j++)
                {
                    double g = sgu[(long)t * 2 * fs + j], u = sgu[(long)t * 2 * fs + fs + j];
                    a[(long)t * fs + j] = g / (1 + Math.Exp(-g)) * u;
                }
            var shared = Project(a, n, new ExpertOperands(hw.SharedDown, null, 0, hw.SharedDown, 0), h, fs);
            for (long i = 0; i < result.Length; i++) result[i] += shared[i];
        }
        int bad = mismatched.Sum();
        double worst = halfRatio.Max();
        var quantizers = CaseResult.All(
            Checks.True(bad == 0, $"{layer.QuantLabel} expert weights on the device vs the host quantizer: {bad} of {3L * e * f * h} values differ"),
            Checks.True(worst <= 1, $"host-quantized expert weights within half a step of the source (worst {worst:0.###} of it)"));
        return ((Enumerable.Range(0, n).ToArray(), result), quantizers);
    }

    /// <summary>Values of expert <paramref name="expert"/>'s device weights (dequantized into a pooled buffer) that differ from <paramref name="host"/> bit for bit.</summary>
    private static int DeviceMismatches(Layers.Methods.IMoeMethod method, int expert, ReadOnlySpan<float> host)
    {
        var buffer = ArrayPool<float>.Shared.Rent(host.Length);
        try
        {
            var device = buffer.AsSpan(0, host.Length);
            method.DequantizedWeights(expert, device);
            return ErrorMetrics.BitMismatches(host, device);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }
}
