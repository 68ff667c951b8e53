using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Tests.Conformance;

/// <summary>The chunked, vectorized error measures agree with plain loops and see every non-finite value.</summary>
public class ErrorMetricsTests
{
    [Fact]
    public void Relative_frobenius_of_floats_equals_the_double_form_and_sees_every_non_finite()
    {
        const int count = 300_001;   // several chunks and a tail
        var expected = HostData.Floats(count, 14, -2f, 2f);
        var actual = HostData.Floats(count, 15, -2f, 2f);
        var expectedD = Array.ConvertAll(expected, x => (double)x);
        double num = 0, den = 0;
        for (int i = 0; i < count; i++)
        {
            double d = (double)actual[i] - expected[i];
            num += d * d;
            den += (double)expected[i] * expected[i];
        }
        double plain = Math.Sqrt(num / den);
        Assert.Equal(plain, ErrorMetrics.RelativeFrobenius(expected, actual), 1e-12);
        Assert.Equal(plain, ErrorMetrics.RelativeFrobenius(expectedD, actual), 1e-12);
        Assert.Equal(ErrorMetrics.RelativeFrobenius(expectedD, actual), ErrorMetrics.RelativeFrobenius(expected, actual));
        foreach (int at in new[] { 0, 5, 65_536, count - 1 })
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                var copy = (float[])actual.Clone();
                copy[at] = bad;
                Assert.True(double.IsNaN(ErrorMetrics.RelativeFrobenius(expected, copy)));
                Assert.True(double.IsNaN(ErrorMetrics.RelativeFrobenius(expectedD, copy)));
                Assert.Equal(at, ErrorMetrics.FirstNonFinite(copy));
            }
        Assert.Equal(-1, ErrorMetrics.FirstNonFinite(actual));
    }

    [Fact]
    public void Bit_mismatches_counts_every_difference()
    {
        var a = HostData.Floats(1000, 16, -1f, 1f);
        var b = (float[])a.Clone();
        Assert.Equal(0, ErrorMetrics.BitMismatches(a, b));
        b[3] = -b[3];
        b[999] = float.NaN;
        Assert.Equal(2, ErrorMetrics.BitMismatches(a, b));
    }
}
