using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using GraphEngine.Samples.RealModel;

namespace GraphEngine.Tests.Samples;

/// <summary>
/// The whole forward of a checkpoint in float64 from the weights a test wrote, written independently of the sample and
/// of the engine's kernels: embedding rows, then per decoder layer input RMSNorm, q/k/v, attention (q/k norm, RoPE with
/// the angle in double, GQA, causal softmax), o_proj, post-attention RMSNorm, the MoE block or dense MLP, and the final
/// RMSNorm. Norms, projections and the dense MLP are <see cref="Float64Oracle"/>'s (the judge the loader's tests use);
/// embedding, attention, the MoE block (with a tie rule for a chained input) and the final norm are written here. Each
/// value is rounded to bf16 where the engine stores a bf16 buffer, so the comparison bounds one layer's error at a time
/// instead of their sum.
/// </summary>
internal sealed class Float64Forward
{
    private readonly ModelDescription _m;
    private readonly Func<string, float[]> _w;
    private readonly Float64Oracle _oracle;

    public Float64Forward(ModelDescription model, Func<string, float[]> weight, double ropeTheta, RotaryPairing pairing)
    {
        _m = model;
        _w = weight;
        _oracle = new Float64Oracle(model, weight);
        Theta = ropeTheta;
        Pairing = pairing;
    }

    public double Theta { get; }
    public RotaryPairing Pairing { get; }

    /// <summary>
    /// Scores closer than this to the k-th count as tied. The float64 chain's router input differs from the engine's by
    /// bf16 rounding (2^-8 relative per element at most), which moves a logit by at most 2^-8 of the largest one and a
    /// softmax probability by at most about 2 · 2^-8 = 8e-3.
    /// </summary>
    public const double TieMargin = 1e-2;

    /// <summary>Tokens (per MoE layer) whose experts differed from the engine's beyond a near tie, in the last <see cref="Run"/>.</summary>
    public int Mismatches { get; private set; }

    /// <summary>Tokens (per MoE layer) computed with the engine's experts because they tie within <see cref="TieMargin"/>.</summary>
    public int Ties { get; private set; }

    /// <summary>Final hidden states [n, hidden] of <paramref name="ids"/>; <paramref name="observed"/> (optional) are the experts the engine chose per MoE layer, taken where they are a near tie.</summary>
    public double[] Run(int[] ids, IReadOnlyDictionary<int, int[]>? observed = null)
    {
        int n = ids.Length, h = _m.Hidden;
        var embed = _w(TensorNames.EmbedTokens);
        var x = new double[n * h];
        for (int t = 0; t < n; t++)
            for (int c = 0; c < h; c++) x[t * h + c] = embed[(long)ids[t] * h + c];
        Mismatches = Ties = 0;
        double[] mlp = new double[n * h];
        for (int i = 0; i < _m.Layers; i++)
        {
            if (i > 0) x = R(Add(x, mlp));
            var normed = R(_oracle.Norm(i, false, x, n));
            var qkv = R(_oracle.Qkv(i, normed, n));
            var attention = R(Attention(i, qkv, n));
            x = R(Add(x, R(_oracle.OProj(i, attention, n))));
            normed = R(_oracle.Norm(i, true, x, n));
            if (_m.DecoderLayers[i].IsMoe)
            {
                mlp = R(Moe(i, normed, n, observed?.GetValueOrDefault(i)));
            }
            else
            {
                mlp = R(_oracle.DenseMlp(i, normed, n));
            }
        }
        x = R(Add(x, mlp));
        return R(Float64Oracle.RmsNorm(x, n, _w(TensorNames.FinalNorm), _m.RmsNormEps));
    }

    /// <summary>Causal self-attention of decoder layer <paramref name="layer"/> over [q | k | v] rows [0, n).</summary>
    public double[] Attention(int layer, double[] qkv, int n)
    {
        int heads = _m.Heads, kv = _m.KvHeads, d = _m.HeadDim, width = (heads + 2 * kv) * d, group = heads / kv;
        string p = $"{TensorNames.Layer(layer)}.self_attn";
        float[]? qn = _m.QkNorm ? _w($"{p}.q_norm.weight") : null, kn = _m.QkNorm ? _w($"{p}.k_norm.weight") : null;
        double[] Rotated(int t, int head)
        {
            var x = new double[d];
            for (int c = 0; c < d; c++) x[c] = qkv[(long)t * width + (long)head * d + c];
            if (qn is not null)
            {
                var w = head < heads ? qn : kn!;
                double ss = x.Sum(v => v * v), inv = 1 / Math.Sqrt(ss / d + _m.RmsNormEps);
                for (int c = 0; c < d; c++) x[c] *= inv * w[c];
            }
            var y = new double[d];
            for (int i = 0; i < d / 2; i++)
            {
                int a = Pairing == RotaryPairing.Interleaved ? 2 * i : i, b = Pairing == RotaryPairing.Interleaved ? 2 * i + 1 : i + d / 2;
                double angle = t * Math.Pow(Theta, -2.0 * i / d);
                y[a] = x[a] * Math.Cos(angle) - x[b] * Math.Sin(angle);
                y[b] = x[b] * Math.Cos(angle) + x[a] * Math.Sin(angle);
            }
            return y;
        }
        var output = new double[(long)n * heads * d];
        for (int t = 0; t < n; t++)
            for (int hq = 0; hq < heads; hq++)
            {
                int g = hq / group;
                var q = Rotated(t, hq);
                var s = new double[t + 1];
                for (int j = 0; j <= t; j++)
                {
                    var k = Rotated(j, heads + g);
                    for (int c = 0; c < d; c++) s[j] += q[c] * k[c];
                    s[j] /= Math.Sqrt(d);
                }
                double max = s.Max(), sum = 0;
                for (int j = 0; j <= t; j++) sum += s[j] = Math.Exp(s[j] - max);
                for (int c = 0; c < d; c++)
                {
                    double acc = 0;
                    for (int j = 0; j <= t; j++) acc += s[j] / sum * qkv[(long)j * width + (long)(heads + kv + g) * d + c];
                    output[((long)t * heads + hq) * d + c] = acc;
                }
            }
        return output;
    }

    /// <summary>
    /// The MoE block as transformers defines it: router logits (bf16 unless the model keeps its router fp32), softmax,
    /// top-k of probability plus ERNIE's selection bias (lower index first on equal scores), the chosen probabilities
    /// renormalised (ERNIE always, clamped below by moe_norm_min; Qwen3 with norm_topk_prob), ERNIE's weights in bf16 as
    /// its router hands them on, each chosen expert's SwiGLU MLP weighted, plus the shared experts. Where
    /// <paramref name="observed"/> (the engine's choice, [n, k]) differs only among tied scores it is used instead.
    /// </summary>
    public double[] Moe(int layer, double[] x, int n, int[]? observed)
    {
        var moe = _m.DecoderLayers[layer].Moe!;
        int h = _m.Hidden, e = moe.Experts, k = moe.TopK, f = moe.ExpertFfn;
        bool ernie = moe.Routing == MoeRouting.ErnieBiasedSoftmax;
        var logits = Float64Oracle.Linear(x, n, h, _w(TensorNames.RouterGate(layer)), e);
        if (!moe.RouterFp32) logits = R(logits);
        float[]? bias = moe.SelectionBias ? _w(TensorNames.SelectionBias(layer, ExpertLayout.PerExpert)) : null;
        string p = $"{TensorNames.Layer(layer)}.mlp";
        var y = new double[(long)n * h];
        for (int t = 0; t < n; t++)
        {
            var row = logits.AsSpan(t * e, e).ToArray();
            double max = row.Max();
            var prob = row.Select(l => Math.Exp(l - max)).ToArray();
            double total = prob.Sum();
            for (int j = 0; j < e; j++) prob[j] /= total;
            var score = prob.Select((v, j) => v + (bias?[j] ?? 0)).ToArray();
            var chosen = Enumerable.Range(0, e).OrderByDescending(j => score[j]).ThenBy(j => j).Take(k).ToArray();
            if (observed is not null)
            {
                var theirs = observed.AsSpan(t * k, k).ToArray();
                if (!theirs.Order().SequenceEqual(chosen.Order()))
                {
                    double kth = score[chosen[^1]];
                    if (theirs.Distinct().Count() == k && theirs.All(j => j >= 0 && j < e && score[j] >= kth - TieMargin))
                    {
                        chosen = theirs;
                        Ties++;
                    }
                    else Mismatches++;
                }
            }
            double sum = chosen.Sum(j => prob[j]);
            double denom = ernie ? Math.Max(sum, moe.NormMin) : moe.NormTopKProb ? sum : 1;
            var xt = x.AsSpan(t * h, h).ToArray();
            foreach (int j in chosen)
            {
                double weight = ernie ? Bf16.Round((float)(prob[j] / denom)) : prob[j] / denom;
                var o = Mlp($"{p}.experts.{j}", xt, f);
                for (int c = 0; c < h; c++) y[(long)t * h + c] += weight * o[c];
            }
            if (moe.SharedExperts > 0)
            {
                var o = Mlp($"{p}.shared_experts", xt, moe.SharedExpertFfn);
                for (int c = 0; c < h; c++) y[(long)t * h + c] += o[c];
            }
        }
        return y;
    }

    /// <summary>down(silu(gate x) · up x) of one token with the projections under <paramref name="prefix"/>.</summary>
    private double[] Mlp(string prefix, double[] x, int ffn)
    {
        var g = Float64Oracle.Linear(x, 1, x.Length, _w($"{prefix}.gate_proj.weight"), ffn);
        var u = Float64Oracle.Linear(x, 1, x.Length, _w($"{prefix}.up_proj.weight"), ffn);
        var a = g.Select((v, i) => v / (1 + Math.Exp(-v)) * u[i]).ToArray();
        return Float64Oracle.Linear(a, 1, ffn, _w($"{prefix}.down_proj.weight"), x.Length);
    }

    private static double[] Add(double[] a, double[] b) => a.Zip(b, (x, y) => x + y).ToArray();

    private static double[] R(double[] v) => v.Select(x => (double)Bf16.Round((float)x)).ToArray();
}
