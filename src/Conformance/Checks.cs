using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Conformance;

/// <summary>Comparisons that turn measured numbers into case results with the bound and its reason.</summary>
public static class Checks
{
    /// <summary>
    /// Every element written (no NaN left from poisoning) and relative Frobenius error within
    /// <paramref name="tolerance"/>; <paramref name="reason"/> says why that bound.
    /// </summary>
    public static CaseResult Close(string what, ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double tolerance, string reason)
    {
        int bad = ErrorMetrics.FirstNonFinite(actual);
        if (bad >= 0) return CaseResult.Fail($"{what}: element {bad} not finite ({actual[bad]}): unwritten or overflow");
        double err = ErrorMetrics.RelativeFrobenius(expected, actual);
        string detail = $"{what}: rel err {err:0.###e+0} (bound {tolerance:0.#e+0}: {reason})";
        return err <= tolerance ? CaseResult.Pass(detail) : CaseResult.Fail(detail);
    }

    /// <summary>
    /// <see cref="Close(string, ReadOnlySpan{double}, ReadOnlySpan{float}, double, string)"/> with float
    /// expected values (converted to float64 exactly): the same figure without a float64 copy of them.
    /// </summary>
    public static CaseResult Close(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string reason)
    {
        int bad = ErrorMetrics.FirstNonFinite(actual);
        if (bad >= 0) return CaseResult.Fail($"{what}: element {bad} not finite ({actual[bad]}): unwritten or overflow");
        double err = ErrorMetrics.RelativeFrobenius(expected, actual);
        string detail = $"{what}: rel err {err:0.###e+0} (bound {tolerance:0.#e+0}: {reason})";
        return err <= tolerance ? CaseResult.Pass(detail) : CaseResult.Fail(detail);
    }

    /// <summary>
    /// Every element written, the relative Frobenius error within <paramref name="tolerance"/>'s bound, and every
    /// element within |a - e| &lt;= c·ulp(e) + δ·rms(row), rows being <paramref name="cols"/> wide. The detail
    /// names the worst element, so one wrong value or one wrong row fails even when the norm hides it.
    /// </summary>
    public static CaseResult Close(string what, ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, int cols, Tolerance tolerance)
    {
        int bad = ErrorMetrics.FirstNonFinite(actual);
        if (bad >= 0) return CaseResult.Fail($"{what}: element {bad} not finite ({actual[bad]}): unwritten or overflow");
        double err = ErrorMetrics.RelativeFrobenius(expected, actual);
        var worst = ErrorMetrics.WorstElement(expected, actual, cols, tolerance.Output, tolerance.Ulps, tolerance.RmsFraction);
        return Judge(what, err, worst, expected.Length == 0 ? 0 : expected[(int)Math.Max(0, worst.Index)], actual, cols, tolerance);
    }

    /// <summary><see cref="Close(string, ReadOnlySpan{double}, ReadOnlySpan{float}, int, Tolerance)"/> with float expected values.</summary>
    public static CaseResult Close(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, int cols, Tolerance tolerance)
    {
        int bad = ErrorMetrics.FirstNonFinite(actual);
        if (bad >= 0) return CaseResult.Fail($"{what}: element {bad} not finite ({actual[bad]}): unwritten or overflow");
        double err = ErrorMetrics.RelativeFrobenius(expected, actual);
        var worst = ErrorMetrics.WorstElement(expected, actual, cols, tolerance.Output, tolerance.Ulps, tolerance.RmsFraction);
        return Judge(what, err, worst, expected.Length == 0 ? 0 : expected[(int)Math.Max(0, worst.Index)], actual, cols, tolerance);
    }

    private static CaseResult Judge(string what, double err, ElementError worst, double expectedAtWorst, ReadOnlySpan<float> actual, int cols, Tolerance t)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string at = worst.Index < 0 ? "no elements" : string.Create(inv,
            $"worst element [{worst.Index / cols}, {worst.Index % cols}] {actual[(int)worst.Index]:G6} vs {expectedAtWorst:G6}: {worst.Ratio:0.###} of its bound");
        string detail = string.Create(inv,
            $"{what}: rel err {err:0.###e+0} (bound {t.Frobenius:0.##e+0}); {at} ({t.Ulps:0.#} ulp + {t.RmsFraction:0.##e+0}·row rms; {t.Describe()})");
        return err <= t.Frobenius && worst.Ratio <= 1 ? CaseResult.Pass(detail) : CaseResult.Fail(detail);
    }

    /// <summary>
    /// Every |q - w| within <paramref name="halfStep"/>(i), the half quantization step at element i (the most
    /// round-to-nearest can move it), plus 2^-21 of |w| for the fp32 rounding of w / scale and q · scale.
    /// </summary>
    public static CaseResult WithinHalfStep(string what, ReadOnlySpan<float> source, ReadOnlySpan<float> quantized, Func<long, double> halfStep)
    {
        if (source.Length != quantized.Length) return CaseResult.Fail($"{what}: {quantized.Length} values, expected {source.Length}");
        // Chunks in parallel, combined in chunk order with the same rule as one pass: the first worst element wins.
        const int chunk = 1 << 16;
        int chunks = (source.Length + chunk - 1) / chunk;
        var worstOf = new (double Ratio, long At)[chunks];
        unsafe
        {
            fixed (float* ps = source)
            fixed (float* pq = quantized)
            {
                nint sAt = (nint)ps, qAt = (nint)pq;
                int length = source.Length;
                void Chunk(int c)
                {
                    var src = new ReadOnlySpan<float>((float*)sAt, length);
                    var q = new ReadOnlySpan<float>((float*)qAt, length);
                    double w = 0;
                    long at = -1;
                    for (int i = c * chunk; i < Math.Min(length, (c + 1) * chunk); i++)
                    {
                        double h = halfStep(i);
                        double err = Math.Abs((double)q[i] - src[i]);
                        double ratio = err / (h + Math.ScaleB(Math.Abs(src[i]), -21) + 1e-30);
                        if (!(ratio <= w)) { w = ratio; at = i; }
                    }
                    worstOf[c] = (w, at);
                }
                if (chunks <= 1) { if (chunks == 1) Chunk(0); }
                else Parallel.For(0, chunks, Chunk);
            }
        }
        long worstAt = -1;
        double worst = 0;
        foreach (var (ratio, at) in worstOf)
            if (at >= 0 && !(ratio <= worst)) { worst = ratio; worstAt = at; }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string detail = worstAt < 0 ? $"{what}: {source.Length} values, all exact"
            : string.Create(inv, $"{what}: {source.Length} values, worst [{worstAt}] {quantized[(int)worstAt]:G6} vs source {source[(int)worstAt]:G6}: {worst:0.###} of half a step");
        return worst <= 1 ? CaseResult.Pass(detail) : CaseResult.Fail(detail);
    }

    public static CaseResult BitEqual(string what, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        int n = ErrorMetrics.BitMismatches(expected, actual);
        return n == 0 ? CaseResult.Pass($"{what}: bit-identical ({expected.Length} values)")
                      : CaseResult.Fail($"{what}: {n} of {expected.Length} values differ");
    }

    public static CaseResult Equal<T>(string what, ReadOnlySpan<T> expected, ReadOnlySpan<T> actual) where T : IEquatable<T>
    {
        if (expected.Length != actual.Length) return CaseResult.Fail($"{what}: length {actual.Length}, expected {expected.Length}");
        // Element-wise Equals either way; SequenceEqual is the vectorized form, the loop finds the first difference.
        if (expected.SequenceEqual(actual)) return CaseResult.Pass($"{what}: equal ({expected.Length} values)");
        for (int i = 0; i < expected.Length; i++)
            if (!expected[i].Equals(actual[i]))
                return CaseResult.Fail($"{what}: first difference at {i}: {actual[i]} vs expected {expected[i]}");
        return CaseResult.Pass($"{what}: equal ({expected.Length} values)");
    }

    public static CaseResult True(bool condition, string detail) => condition ? CaseResult.Pass(detail) : CaseResult.Fail(detail);
}
