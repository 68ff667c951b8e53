using GraphEngine.Conformance;

namespace GraphEngine.Tests.Conformance;

/// <summary>The oracles' vectorized float64 dot products agree with plain loops.</summary>
public class Float64Tests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(1001)]
    public void Float64_dots_match_plain_loops(int length)
    {
        var a = HostData.Floats(length, 12, -1f, 1f);
        var b = HostData.Floats(length, 13, -1f, 1f);
        var ad = Array.ConvertAll(a, x => (double)x * 1.1);
        var bd = Array.ConvertAll(b, x => (double)x * 0.7);
        double ff = 0, df = 0, dd = 0, scale = 0;
        for (int i = 0; i < length; i++)
        {
            ff += (double)a[i] * b[i];
            df += ad[i] * b[i];
            dd += ad[i] * bd[i];
            scale += Math.Abs(ad[i] * b[i]);
        }
        double tol = 1e-14 * Math.Max(1, scale);
        Assert.InRange(Float64.Dot(a, b) - ff, -tol, tol);
        Assert.InRange(Float64.Dot(ad, b) - df, -tol, tol);
        Assert.InRange(Float64.Dot(ad, bd) - dd, -tol, tol);
    }
}
