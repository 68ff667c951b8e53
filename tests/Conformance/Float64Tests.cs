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

    /// <summary>
    /// The tiled GEMM (tasks of 64 rows by a block of columns) against plain double dot products, with shapes that
    /// leave partial row quads, column pairs, row blocks and column blocks, per-group scales on both sides.
    /// </summary>
    [Theory]
    [InlineData(1, 3, 8, 0)]
    [InlineData(7, 5, 769, 0)]
    [InlineData(130, 37, 256, 64)]
    [InlineData(67, 301, 1024, 128)]
    public void MatMulT_matches_double_dot_products(int rows, int cols, int k, int group)
    {
        // 12-bit values (bf16 inputs, int codes) as the oracles feed it.
        var a = Array.ConvertAll(HostData.Floats(rows * k, 21, -1f, 1f), Bf16.Round);
        var b = Array.ConvertAll(HostData.Floats(cols * k, 22, -8f, 8f), MathF.Round);
        int groups = group == 0 ? 1 : k / group, g = group == 0 ? k : group;
        var aS = HostData.Floats(rows * groups, 23, 0.5f, 2f);
        var bS = HostData.Floats(cols * groups, 24, 0.01f, 0.1f);
        var c = Float64.MatMulT(a, rows, b, cols, k, group, aS, bS);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double e = 0, abs = 0;
                for (int x = 0; x < groups; x++)
                {
                    double part = 0, partAbs = 0;
                    for (int t = x * g; t < (x + 1) * g; t++)
                    {
                        part += (double)a[i * k + t] * b[j * k + t];
                        partAbs += Math.Abs((double)a[i * k + t] * b[j * k + t]);
                    }
                    double s = aS[i * groups + x] * (double)bS[j * groups + x];
                    e += part * s;
                    abs += partAbs * s;
                }
                // The lanes' fp32 partial sums of exact products round by at most 32·2^-24 of their absolute sum.
                double tol = 32 * Math.ScaleB(abs, -24) + 1e-12;
                Assert.InRange(c[(long)i * cols + j] - e, -tol, tol);
            }
    }
}
