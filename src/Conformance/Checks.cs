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
