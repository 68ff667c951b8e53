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
    /// [N, K], per-(row, group) scales (null: none), the group along K (0: one per row), and the weights the
    /// kernel effectively multiplies (codes times scales) for the byte-for-byte and half-step checks.
    /// w4afp8's codes span Pad128(K) columns (zeros past K), as its kernel reads them.
    /// </summary>
    internal sealed record ExpertOperands(float[] Values, float[]? Scales, int Group, float[] Dequantized, float[] HalfStep);

    /// <summary>Host quantization of one expert's [N, K] source weights in <paramref name="mode"/>.</summary>
    internal static ExpertOperands QuantizeExpert(QuantMode mode, GroupSize group, float[] w, int n, int k)
    {
        var values = new float[(long)n * k];
        var half = new float[(long)n * k];
        switch (mode)
        {
            case QuantMode.None:
                return new ExpertOperands(w, null, 0, w, half);
            case QuantMode.WInt8:
            case QuantMode.WInt4:
            case QuantMode.Wi4A16:
            {
                // wi4a16 stores q + 8 with zero 8: (q + 8) - 8 = q exactly in bf16, so it multiplies q · scale too.
                int qmax = mode == QuantMode.WInt8 ? 127 : 7;
                int gsize = mode == QuantMode.Wi4A16 ? Wi4A16GroupGemm.GroupSize : group.IsPerChannel ? k : group.Size;
                int groups = k / gsize;
                var scales = new float[n * groups];
                var deq = new float[(long)n * k];
                var q = new int[gsize];
                for (int r = 0; r < n; r++)
                    for (int g = 0; g < groups; g++)
                    {
                        int at = r * k + g * gsize;
                        float s = ExpertWeightMath.QuantizeSegment(w.AsSpan(at, gsize), qmax, q);
                        scales[r * groups + g] = s;
                        for (int i = 0; i < gsize; i++)
                        {
                            values[at + i] = q[i];
                            deq[at + i] = q[i] * s;
                            half[at + i] = s / 2;
                        }
                    }
                return new ExpertOperands(values, scales, gsize == k ? 0 : gsize, deq, half);
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
                var codes = new float[(long)n * kp];
                int span = grouped ? W4AFp8GroupGemm.GroupSize : kp;
                for (int r = 0; r < n; r++)
                    for (int g = 0; g < groups; g++) scales[r * groups + g] = stored[g * np + r] / 512f;   // the nibble's 2^-9, undone
                for (int r = 0; r < n; r++)
                {
                    for (int c = 0; c < kp; c++) codes[(long)r * kp + c] = W4AFp8GroupGemm.ValueAt(qb, kp, r, c);
                    for (int c = 0; c < k; c++) half[(long)r * k + c] = scales[r * groups + c / span] / 2;
                }
                var deq = W4AFp8GroupGemm.HostDequantize(qb, stored, n, k, grouped);
                return new ExpertOperands(codes, scales, grouped ? span : 0, deq, half);
            }
            case QuantMode.Nvfp4:
            {
                int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k);
                var qb = new byte[np * kp / 2];
                var bs = new byte[np * kp / Nvfp4GroupGemm.BlockSize];
                float global = Nvfp4GroupGemm.HostQuantize(w, n, k, qb, bs);
                // e2m1 times its e4m3 block scale has at most 5 significant bits: exact; the global scale per row.
                var unscaled = Nvfp4GroupGemm.HostDequantize(qb, bs, 1f, n, k);
                var deq = Nvfp4GroupGemm.HostDequantize(qb, bs, global, n, k);
                for (int r = 0; r < n; r++)
                    for (int c = 0; c < k; c++)
                    {
                        double unit = Fp8E4M3.ToFloat(bs[Nvfp4GroupGemm.ScaleIndex(np, r, c)]) * (double)global;
                        double v = unit > 0 ? Math.Abs(w[(long)r * k + c]) / unit : 0;
                        // e2m1 spacing: 0.5 below 2, 1 below 4, 2 above (values past 6 saturate by less than 0.4).
                        half[(long)r * k + c] = (float)((v < 2 ? 0.25 : v < 4 ? 0.5 : 1.0) * unit);
                    }
                return new ExpertOperands(unscaled, Enumerable.Repeat(global, n).ToArray(), 0, deq, half);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "no MoE expert quantizer");
        }
    }

    /// <summary>Expert <paramref name="x"/>'s [N, K] slice of a host [E, N, K] array.</summary>
    private static float[] ExpertSlice(float[] all, int x, int n, int k) => all.AsSpan((int)((long)x * n * k), n * k).ToArray();

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
    private static (float[] Codes, float[] Scales) QuantizeTokens(float[] a, int m, int k, int group)
    {
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

    private static float Round(double v, DType t) => HalfBits.ToFloat(HalfBits.FromFloat((float)v, t), t);

    /// <summary>
    /// down · (silu(gate · x) · (up · x)) for the rows <paramref name="x"/> [m, H] of one expert. w4afp8 rounds the
    /// gate/up output and the SwiGLU output to the activation type and quantizes both GEMMs' inputs per token to
    /// e4m3 with the host quantizer, because its kernels quantize exactly those bf16 values; every other mode
    /// rounds nothing.
    /// </summary>
    private static double[] ExpertMlp(float[] x, int m, ExpertOperands up, ExpertOperands down, int h, int f, QuantMode mode, DType act)
    {
        double[] hv;
        bool fp8 = mode == QuantMode.W4AFp8;
        if (fp8)
        {
            var (codes, scales) = QuantizeTokens(x, m, h, up.Group);
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
        var (ac, asc) = QuantizeTokens(Array.ConvertAll(a, v => (float)v), m, f, down.Group);
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
        bool fp32 = spec.Router == RouterKind.Ernie;
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
                scores[t * e + j] = p[j] + (fp32 ? hw.SelectionBias[j] : 0);
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
        Parallel.For(0, e, ex =>
        {
            var upSrc = ExpertSlice(hw.GateUp, ex, 2 * f, h);
            var downSrc = ExpertSlice(hw.Down, ex, h, f);
            var up = QuantizeExpert(spec.Mode, spec.Group, upSrc, 2 * f, h);
            var down = QuantizeExpert(spec.Mode, spec.Group, downSrc, h, f);
            mismatched[ex] = ErrorMetrics.BitMismatches(up.Dequantized, layer.GateUp.DequantizedWeights(ex))
                           + ErrorMetrics.BitMismatches(down.Dequantized, layer.Down.DequantizedWeights(ex));
            halfRatio[ex] = Math.Max(HalfStepRatio(upSrc, up), HalfStepRatio(downSrc, down));
            var mine = pairs[ex];
            if (mine.Count == 0) return;
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
        });
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
            var shared = Project(a, n, new ExpertOperands(hw.SharedDown, null, 0, hw.SharedDown, Array.Empty<float>()), h, fs);
            for (long i = 0; i < result.Length; i++) result[i] += shared[i];
        }
        int bad = mismatched.Sum();
        double worst = halfRatio.Max();
        var quantizers = CaseResult.All(
            Checks.True(bad == 0, $"{layer.QuantLabel} expert weights on the device vs the host quantizer: {bad} of {3L * e * f * h} values differ"),
            Checks.True(worst <= 1, $"host-quantized expert weights within half a step of the source (worst {worst:0.###} of it)"));
        return ((Enumerable.Range(0, n).ToArray(), result), quantizers);
    }

    /// <summary>The largest |dequantized - source| / half step of one expert projection (0 when exact).</summary>
    private static double HalfStepRatio(float[] source, ExpertOperands w)
    {
        double worst = 0;
        if (w.HalfStep.Length == 0) return 0;
        for (long i = 0; i < source.Length; i++)
        {
            double err = Math.Abs((double)w.Dequantized[i] - source[i]);
            if (err == 0) continue;
            // fp32 rounding of w / scale and of q · scale: a few 2^-24 of the value on top of the half step.
            worst = Math.Max(worst, err / (w.HalfStep[i] + Math.ScaleB(Math.Abs(source[i]), -21)));
        }
        return worst;
    }
}
