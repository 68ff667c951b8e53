using System.Numerics;

namespace GraphEngine.Kernels.Numerics;

/// <summary>Error measures used by tests and `graphengine check`.</summary>
public static class ErrorMetrics
{
    /// <summary>||actual - expected||_F / ||expected||_F, in float64. NaN if any actual value is not finite.</summary>
    public static double RelativeFrobenius(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual) => RelativeFrobeniusOf(expected, actual);

    /// <summary>||actual - expected||_F / ||expected||_F in float64; NaN if any actual value is not finite.</summary>
    public static double RelativeFrobenius(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual) => RelativeFrobeniusOf(expected, actual);

    private static double RelativeFrobeniusOf<T>(ReadOnlySpan<double> expected, ReadOnlySpan<T> actual) where T : IFloatingPoint<T>
    {
        if (expected.Length != actual.Length)
            throw new ArgumentException($"expected {expected.Length} values, actual {actual.Length}");
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!T.IsFinite(actual[i])) return double.NaN;
            double d = double.CreateTruncating(actual[i]) - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    /// <summary>Index of the first non-finite value, or -1: an output element the kernel never wrote.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++) if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>Number of positions where the two arrays differ bit for bit.</summary>
    public static int BitMismatches(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths {a.Length} and {b.Length} differ");
        int n = 0;
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) n++;
        return n;
    }
}
