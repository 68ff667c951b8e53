using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;

namespace GraphEngine.Conformance;

/// <summary>
/// The models' routing against an independent float64 computation from the source weights (the bf16 input,
/// the router weight, the selection bias): ERNIE-4.5's fp32 router with e_score_correction_bias and the
/// moe_norm_min clamp, and Qwen3-MoE's top-k softmax with and without norm_topk_prob. Experts are not a
/// power of two, top-k covers 1 and 8, and padded rows hold NaN.
/// </summary>
public static partial class MoeCases
{
    /// <summary>fp32 scores (p + bias, or p of fp32 logits) are a few ulps (~1e-7 relative) from float64: a swap within this is a tie, not an error.</summary>
    private const double BiasedTieMargin = 1e-5;

    // A bf16 router's logits are its fp32 accumulation rounded to 8 significant bits; where the float64 value
    // sits near a rounding boundary the device may land on the neighbouring bf16 value, moving p by ~2^-8.
    private const double Bf16LogitTieMargin = 1e-2;

    private static IEnumerable<ConformanceCase> RoutingCases()
    {
        var odd = new Shape(Experts: 12, TopK: 6, Hidden: 70, Ffn: 46);
        var ernie = new Shape(Experts: 64, TopK: 6, Hidden: 2560, Ffn: 1536);
        var qwen = new Shape(Experts: 128, TopK: 8, Hidden: 2048, Ffn: 768);
        foreach (int k in new[] { 1, 6, 8 })
        {
            yield return Routing($"moe/routing/ernie/e=12/topk={k}/n=13/s=16",
                new Spec(odd with { TopK = k }, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 13, 16,
                    Router: RouterKind.Ernie, NormMin: 1e-12));
            yield return Routing($"moe/routing/qwen3/e=12/topk={k}/n=13/s=16",
                new Spec(odd with { TopK = k }, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 13, 16));
        }
        // Past the models' 64 and 128 experts (a lane holds up to 32 of them), through the one-block kernel (S 16) and the
        // warp-per-token one (S 128).
        var wide = new Shape(Experts: 200, TopK: 8, Hidden: 70, Ffn: 46);
        // Qwen3-MoE's 128 experts through the one-block kernel: its 4-experts-a-lane instance (64 and fewer: 2; 200: 8; 300: 32).
        yield return Routing("moe/routing/qwen3/e=128/topk=8/n=13/s=16",
            new Spec(wide with { Experts = 128 }, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 13, 16));
        yield return Routing("moe/routing/qwen3/e=200/topk=8/n=13/s=16",
            new Spec(wide, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 13, 16));
        yield return Routing("moe/routing/ernie/e=300/topk=8/n=13/s=16",
            new Spec(wide with { Experts = 300 }, TokenLayout.Padded, QuantMode.None, GroupSize.PerChannel, 13, 16, Router: RouterKind.Ernie, NormMin: 1e-12));
        yield return Routing("moe/routing/qwen3/e=200/topk=8/n=100/s=128",
            new Spec(wide, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 100, 128));
        yield return Routing("moe/routing/qwen3/e=300/topk=8/n=100/s=128",
            new Spec(wide with { Experts = 300 }, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 100, 128));
        yield return Routing("moe/routing/qwen3/e=12/topk=8/no-renorm/n=13/s=16",
            new Spec(odd with { TopK = 8 }, TokenLayout.Padded, QuantMode.None, GroupSize.PerChannel, 13, 16, Renormalize: false));
        // Six chosen probabilities sum to at most 1, so a floor of 2 is always the divisor.
        yield return Routing("moe/routing/ernie/e=12/topk=6/norm-min-clamps/n=13/s=16",
            new Spec(odd, TokenLayout.Padded, QuantMode.None, GroupSize.PerChannel, 13, 16, Router: RouterKind.Ernie, NormMin: 2.0));
        yield return Routing("moe/routing/ernie/real-shape/n=100/s=128",
            new Spec(ernie, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 100, 128, Router: RouterKind.Ernie, NormMin: 1e-12), CaseTier.Full);
        yield return Routing("moe/routing/fp32/e=12/topk=6/n=13/s=16",
            new Spec(odd, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 13, 16, Router: RouterKind.Fp32));
        // The fp32 router's tiled kernel (row bound above 1024) in every plan its rule picks on the H200 (132 SMs): 16
        // experts per block with the top-k fused (E 12) or logits only (E 64 at 1040 rows: 65 token tiles), 64 per block fused (E 64 at
        // 1100 rows: 69 token tiles) or logits only (E 100), each with 1-wide (H 70, ERNIE's rule) and 4-wide (H 72, the
        // plain fp32 rule) loads; n = S - 20 leaves a partial and a wholly padded token tile.
        foreach (var (experts, s) in new[] { (12, 1040), (64, 1040), (64, 1100), (100, 1100) })
            foreach (int hidden in new[] { 70, 72 })
            {
                bool biased = hidden == 70;
                var layout = !biased && s <= 1040 ? TokenLayout.Padded : TokenLayout.PrefixSum;
                var shape = new Shape(experts, 6, hidden, 46);
                yield return Routing($"moe/routing/{(biased ? "ernie" : "fp32")}/tiled/e={experts}/h={hidden}/{(layout == TokenLayout.Padded ? "padded" : "prefix")}/n={s - 20}/s={s}",
                    new Spec(shape, layout, QuantMode.None, GroupSize.PerChannel, s - 20, s,
                        Router: biased ? RouterKind.Ernie : RouterKind.Fp32, NormMin: biased ? 1e-12 : 0));
            }
        // The tiled router's fused top-k under capture and with NaN padding (a partial and a wholly padded token tile).
        var tiled12 = new Spec(new Shape(12, 6, 70, 46), TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 1020, 1040,
            Router: RouterKind.Ernie, NormMin: 1e-12);
        yield return OnSpec("moe/graph/bf16/prefix/ernie/tiled/e=12/replay-equals-eager", tiled12, GraphEqualsEager);
        yield return OnSpec("moe/layer/bf16/padded/ernie/tiled/e=12/nan-padding-changes-nothing", tiled12 with { Layout = TokenLayout.Padded },
            NanPaddingChangesNothing);
        yield return OnSpec("moe/graph/bf16/prefix/fp32/tiled/e=64/replay-equals-eager",
            new Spec(new Shape(64, 6, 72, 46), TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 1080, 1100, Router: RouterKind.Fp32),
            GraphEqualsEager, CaseTier.Full);
        yield return Routing("moe/routing/ernie/real-shape/n=2000/s=2048",
            new Spec(ernie, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 2000, 2048, Router: RouterKind.Ernie, NormMin: 1e-12), CaseTier.Full);
        yield return Routing("moe/routing/qwen3/real-shape/n=100/s=128",
            new Spec(qwen, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 100, 128), CaseTier.Full);

        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
        {
            string l = layout == TokenLayout.PrefixSum ? "prefix" : "padded";
            var spec = new Spec(odd, layout, QuantMode.None, GroupSize.PerChannel, 7, 16, SharedFfn: 92, Router: RouterKind.Ernie, NormMin: 1e-12);
            yield return Layer($"moe/layer/bf16/{l}/ernie/shared/n=7/s=16", spec);
            yield return Layer($"moe/layer/wint8/{l}/ernie/shared/n=7/s=16", spec with { Mode = QuantMode.WInt8 });
            yield return OnSpec($"moe/layer/bf16/{l}/ernie/nan-padding-changes-nothing", spec with { Tokens = 5 }, NanPaddingChangesNothing);
            yield return OnSpec($"moe/graph/bf16/{l}/ernie/replay-equals-eager", spec with { Tokens = 6 }, GraphEqualsEager);
        }
    }

    private static ConformanceCase Routing(string name, Spec spec, CaseTier tier = CaseTier.Ci) => OnSpec(name, spec, RoutingMatchesFloat64, tier);

    /// <summary>
    /// Routes n valid rows (rows [n, S) NaN) and checks ids and weights against float64 routing from the
    /// source weights, padded rows untouched in ids and counts, and (ERNIE) that the bias changed the choice.
    /// </summary>
    private static CaseResult RoutingMatchesFloat64(Device device, Spec spec)
    {
        using var rig = new Rig(device, spec);
        rig.FillInput(seed: 17, nanPadding: true);
        rig.Forward(spec.Tokens);
        int n = spec.Tokens, e = spec.Shape.Experts, k = spec.Shape.TopK, h = spec.Shape.Hidden;
        var layer = rig.Layer;
        var rule = layer.Rule;
        bool ernie = spec.Biased, fp32 = spec.Fp32Router;
        var x = rig.Input.SliceRows(0, n).DownloadFloats();
        var w = layer.GateWeight.DownloadFloats();
        var bias = ernie ? layer.SelectionBiasWeight.DownloadFloats() : null;

        var scores = new double[n * e];
        var plainScores = new double[n * e];
        var probs = new double[n * e];
        for (int t = 0; t < n; t++)
        {
            var logits = new double[e];
            for (int j = 0; j < e; j++)
            {
                double acc = 0;
                for (int c = 0; c < h; c++) acc += (double)x[t * h + c] * w[j * h + c];
                // transformers runs a bf16 router's F.linear in bf16: its logits are rounded to bf16.
                logits[j] = fp32 ? acc : HalfBits.ToFloat(HalfBits.FromFloat((float)acc, spec.Activation), spec.Activation);
            }
            var p = Softmax64(logits);
            for (int j = 0; j < e; j++)
            {
                probs[t * e + j] = p[j];
                plainScores[t * e + j] = p[j];
                scores[t * e + j] = bias is null ? p[j] : p[j] + bias[j];
            }
        }
        var oracleIds = TopK64(scores, n, e, k);
        var ids = layer.TopIds.SliceRows(0, spec.Padded).DownloadInts();
        var weights = layer.TopWeights.SliceRows(0, n).ToArray<float>();
        var selection = SameSelection("expert selection vs float64", oracleIds, ids.AsSpan(0, n * k), scores, n, e, k,
            fp32 ? BiasedTieMargin : Bf16LogitTieMargin);

        // Weights of the experts the device chose, in float64, then as the rule rounds them.
        var expected = new double[n * k];
        for (int t = 0; t < n; t++)
        {
            double sum = 0;
            for (int s = 0; s < k; s++) sum += probs[t * e + Math.Clamp(ids[t * k + s], 0, e - 1)];
            double denom = rule.Renormalize ? Math.Max(sum, rule.NormMin) : 1;
            for (int s = 0; s < k; s++)
            {
                double v = probs[t * e + Math.Clamp(ids[t * k + s], 0, e - 1)] / denom;
                expected[t * k + s] = rule.WeightType == DType.F32 ? v
                    : HalfBits.ToFloat(HalfBits.FromFloat((float)v, rule.WeightType), rule.WeightType);
            }
        }
        var (tol, why) = rule.WeightType == DType.F32
            ? fp32 ? (1e-5, "fp32 router and softmax vs float64") : (1e-2, "bf16 logits may round to the neighbouring value (~2^-8 in p)")
            : (5e-3, "weights rounded to bf16: one ulp (2^-8) apart where the fp32 value straddles a rounding boundary");
        var weightCheck = Checks.Close($"routing weights ({(ernie ? "ernie" : fp32 ? "fp32 router, softmax top-k" : "softmax top-k")}, k={k})", expected, weights, tol, why);

        var padIds = ids.AsSpan(n * k).ToArray();
        var padded = Checks.True(Array.TrueForAll(padIds, v => v == -1), $"padded rows [{n}, {spec.Padded}) have ids -1");
        var counts = layer.Counts.DownloadInts();
        var countCheck = Checks.True(counts.Sum() == n * k,
            $"expert counts sum to n*k = {n * k} (got {counts.Sum()}): padded rows counted nowhere");
        var results = new List<CaseResult> { selection, weightCheck, padded, countCheck, CheckRouting(rig, n) };
        if (ernie && k < e)
        {
            var plain = TopK64(plainScores, n, e, k);
            int changed = 0;
            for (int t = 0; t < n; t++)
                if (!plain.AsSpan(t * k, k).ToArray().Order().SequenceEqual(oracleIds.AsSpan(t * k, k).ToArray().Order())) changed++;
            results.Add(Checks.True(changed > 0, $"the selection bias changed the experts of {changed} of {n} tokens vs plain top-k"));
        }
        return CaseResult.All(results.ToArray());
    }

    internal static double[] Softmax64(ReadOnlySpan<float> logits)
    {
        var d = new double[logits.Length];
        for (int i = 0; i < d.Length; i++) d[i] = logits[i];
        return Softmax64(d);
    }

    private static double[] Softmax64(double[] logits)
    {
        double max = logits.Max(), sum = 0;
        var p = new double[logits.Length];
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }

    /// <summary>Top-k of each row of <paramref name="scores"/> [n, e], descending, ties to the lower index.</summary>
    private static int[] TopK64(double[] scores, int n, int e, int k)
    {
        var ids = new int[n * k];
        for (int t = 0; t < n; t++)
        {
            var order = Enumerable.Range(0, e).OrderByDescending(j => scores[t * e + j]).ThenBy(j => j).ToArray();
            Array.Copy(order, 0, ids, t * k, k);
        }
        return ids;
    }

    /// <summary>
    /// Slot by slot the same experts; where they differ, the two experts' reference scores must be within
    /// <paramref name="margin"/> relative (a tie below the precision the device computes them in). Reports how many.
    /// </summary>
    private static CaseResult SameSelection(string what, ReadOnlySpan<int> expected, ReadOnlySpan<int> actual, double[] scores,
                                            int n, int e, int k, double margin)
    {
        int ties = 0;
        for (int t = 0; t < n; t++)
            for (int s = 0; s < k; s++)
            {
                int a = actual[t * k + s], b = expected[t * k + s];
                if (a == b) continue;
                if ((uint)a >= (uint)e)
                    return CaseResult.Fail($"{what}: token {t} slot {s}: expert {a} is not in [0, {e})");
                double sa = scores[t * e + a], sb = scores[t * e + b];
                if (Math.Abs(sa - sb) > margin * Math.Max(Math.Abs(sb), 1e-30))
                    return CaseResult.Fail(
                        $"{what}: token {t} slot {s}: expert {a} (score {sa:G9}) where {b} (score {sb:G9}) was expected");
                ties++;
            }
        string tieText = ties > 0 ? $", {ties} near-tie swaps within {margin:G2}" : "";
        return CaseResult.Pass($"{what}: identical ({n} tokens x top-{k}{tieText})");
    }
}
