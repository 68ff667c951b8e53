using GraphEngine.Kernels.Moe;

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
    public static void TopK(ReadOnlySpan<float> logits, int topK, bool renormalize, Span<int> ids, Span<float> weights)
    {
        int experts = logits.Length;
        float max = float.NegativeInfinity;
        for (int e = 0; e < experts; e++) max = MathF.Max(max, logits[e]);
        float sum = 0;
        for (int e = 0; e < experts; e++) sum += MathF.Exp(logits[e] - max);
        Span<bool> taken = experts <= 1024 ? stackalloc bool[experts] : new bool[experts];
        float chosenSum = 0;
        for (int s = 0; s < topK; s++)
        {
            int best = -1;
            float bestValue = float.NegativeInfinity;
            for (int e = 0; e < experts; e++)
            {
                if (taken[e]) continue;
                // Strictly greater keeps the lower index on ties; NaN never wins, but any untaken expert does.
                if (best < 0 || logits[e] > bestValue) { best = e; bestValue = logits[e]; }
            }
            taken[best] = true;
            ids[s] = best;
            weights[s] = MathF.Exp(logits[best] - max) / sum;
            chosenSum += weights[s];
        }
        if (renormalize)
            for (int s = 0; s < topK; s++) weights[s] /= chosenSum;
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
