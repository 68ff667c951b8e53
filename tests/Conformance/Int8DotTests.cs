using GraphEngine.Conformance;

namespace GraphEngine.Tests.Conformance;

/// <summary>The check's SIMD int8 dot product against the plain loop: integer sums are exact, so bits must match.</summary>
public class Int8DotTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(200)]
    [InlineData(4096)]
    public void Equals_the_scalar_sum(int length)
    {
        var rng = new Random(length + 11);
        var a = new sbyte[length];
        var b = new sbyte[length];
        for (int i = 0; i < length; i++)
        {
            a[i] = (sbyte)rng.Next(-128, 128);
            b[i] = i % 7 == 0 ? (sbyte)-128 : (sbyte)rng.Next(-128, 128);   // the extreme product 16384 included
        }
        int expected = 0;
        for (int i = 0; i < length; i++) expected += a[i] * b[i];
        Assert.Equal(expected, LowPrecisionCases.DotS8(a, b));
        if (length > 0) Assert.NotEqual(0, expected);
    }
}
