using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Kernels.Moe;

/// <summary>
/// The routing rules as plain host functions: the reference backend runs them, and tests use them as
/// the exact oracle for the GPU's ids, counts and permutation.
/// </summary>
public static class MoeRoutingHost
{
    /// <summary>
    /// Top-k of one token's logits, ties to the lower expert index, then fp32 softmax weights of the chosen
    /// experts (optionally renormalized over them). Selection reads the logits, not the probabilities, so
    /// it does not depend on how exp rounds on either backend.
    /// </summary>
    public static void TopK(ReadOnlySpan<float> logits, int topK, bool renormalize, Span<int> ids, Span<float> weights) =>
        TopK(logits, topK, new RoutingRule(renormalize), ReadOnlySpan<float>.Empty, ids, weights);

    /// <summary>
    /// The same under <paramref name="rule"/>: with a <paramref name="selectionBias"/> ([E], the rule's bias as
    /// host values) the choice is top-k of p + bias in fp32 and the weights are p; renormalisation divides by
    /// max(sum, NormMin); the result is rounded to the rule's weight type. The kernel computes exactly this,
    /// except that its fp32 softmax sum is a tree sum (ulps apart).
    /// </summary>
    public static void TopK(ReadOnlySpan<float> logits, int topK, in RoutingRule rule, ReadOnlySpan<float> selectionBias,
                            Span<int> ids, Span<float> weights)
    {
        int experts = logits.Length;
        bool biased = !selectionBias.IsEmpty;
        if (biased && selectionBias.Length != experts)
            throw new ArgumentException($"selection bias has {selectionBias.Length} values for {experts} experts", nameof(selectionBias));
        float max = float.NegativeInfinity;
        for (int e = 0; e < experts; e++) max = MathF.Max(max, logits[e]);
        float sum = 0;
        for (int e = 0; e < experts; e++) sum += MathF.Exp(logits[e] - max);
        Span<bool> taken = experts <= 1024 ? stackalloc bool[experts] : new bool[experts];
        float chosenSum = 0;
        for (int s = 0; s < topK; s++)
        {
            int best = -1;
            float bestValue = float.NegativeInfinity, bestP = 0;
            for (int e = 0; e < experts; e++)
            {
                if (taken[e]) continue;
                float p = 0, v = logits[e];
                if (biased)
                {
                    p = MathF.Exp(v - max) / sum;
                    v = p + selectionBias[e];
                }
                // Strictly greater keeps the lower index on ties; NaN never wins, but any untaken expert does.
                if (best < 0 || v > bestValue) { best = e; bestValue = v; bestP = p; }
            }
            taken[best] = true;
            ids[s] = best;
            weights[s] = biased ? bestP : MathF.Exp(logits[best] - max) / sum;
            chosenSum += weights[s];
        }
        float denom = MathF.Max(chosenSum, rule.NormMin);
        for (int s = 0; s < topK; s++)
        {
            float w = rule.Renormalize ? weights[s] / denom : weights[s];
            weights[s] = rule.WeightType is DType.BF16 or DType.F16
                ? HalfBits.ToFloat(HalfBits.FromFloat(w, rule.WeightType), rule.WeightType)
                : w;
        }
    }

    /// <summary>fp32 dot product accumulated in float64 and rounded once: the reference router GEMM.</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> w)
    {
        double acc = 0;
        for (int k = 0; k < x.Length; k++) acc += (double)x[k] * w[k];
        return (float)acc;
    }

    /// <summary>Routing result of a whole batch, with the stable per-expert order.</summary>
    public sealed record Assignment(int[] Counts, int[] Offsets, int[] Permutation, int[] Inverse);

    /// <summary>
    /// Counts, prefix sums, permutation (permuted row -> t*topK+slot; -1 where no assignment) and inverse
    /// for the first <paramref name="validTokens"/> tokens of <paramref name="ids"/> ([tokens, topK]).
    /// </summary>
    public static Assignment Assign(ReadOnlySpan<int> ids, int validTokens, int topK, int experts, TokenLayout layout, int slotsPerExpert)
    {
        var counts = new int[experts];
        int assignments = validTokens * topK;
        for (int a = 0; a < assignments; a++) if ((uint)ids[a] < (uint)experts) counts[ids[a]]++;
        var offsets = new int[experts + 1];
        for (int e = 0; e < experts; e++) offsets[e + 1] = offsets[e] + counts[e];
        int permRows = layout == TokenLayout.PrefixSum ? assignments : experts * slotsPerExpert;
        var perm = new int[permRows];
        Array.Fill(perm, -1);
        var inverse = new int[assignments];
        Array.Fill(inverse, -1);
        var next = new int[experts];
        for (int a = 0; a < assignments; a++)
        {
            int e = ids[a];
            if ((uint)e >= (uint)experts) continue;   // the kernel skips ids outside [0, E) too
            int row = (layout == TokenLayout.PrefixSum ? offsets[e] : e * slotsPerExpert) + next[e]++;
            perm[row] = a;
            inverse[a] = row;
        }
        return new Assignment(counts, offsets, perm, inverse);
    }
}
