using GraphEngine.Conformance;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Tests.Conformance;

/// <summary>
/// The bounds reject the wrong kernels they are there to catch: an fp16 accumulator, a bf16 partial carried
/// across K tiles, one wrong element, one wrong row; and pass a correct one-rounding result. The "kernels"
/// are emulated on the host from the same float64 product the oracle computes.
/// </summary>
public class ToleranceRejectionTests
{
    private const int M = 83, K = 769, N = 130;

    private static (float[] X, float[] W, double[] Exact) Problem(DType type)
    {
        var x = Array.ConvertAll(HostData.Floats(M * K, 21, -1f, 1f), v => HalfBits.ToFloat(HalfBits.FromFloat(v, type), type));
        var w = Array.ConvertAll(HostData.Floats(N * K, 22, -0.04f, 0.04f), v => HalfBits.ToFloat(HalfBits.FromFloat(v, type), type));
        return (x, w, Float64.MatMulT(x, M, w, N, K));
    }

    private static float RoundTo(double v, DType type) => HalfBits.ToFloat(HalfBits.FromFloat((float)v, type), type);

    /// <summary>Dot products accumulated in <paramref name="acc"/>, restarted every <paramref name="chunk"/> and added in that type too.</summary>
    private static float[] Accumulated(float[] x, float[] w, DType acc, int chunk, DType output)
    {
        var y = new float[M * N];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                float total = 0;
                for (int c0 = 0; c0 < K; c0 += chunk)
                {
                    float part = 0;
                    for (int c = c0; c < Math.Min(K, c0 + chunk); c++)
                        part = acc == DType.F32 ? part + x[i * K + c] * w[j * K + c] : RoundTo(part + x[i * K + c] * w[j * K + c], acc);
                    total = acc == DType.F32 ? total + part : RoundTo(total + part, acc);
                }
                y[i * N + j] = RoundTo(total, output);
            }
        return y;
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void A_correct_fp32_accumulated_result_passes(DType type)
    {
        var (x, w, exact) = Problem(type);
        var result = Checks.Close("fp32", exact, Accumulated(x, w, DType.F32, K, type), N, Tolerance.OneRounding(type, "test"));
        Assert.True(result.Passed, result.Detail);
    }

    [Fact]
    public void An_fp16_accumulator_fails_the_fp16_bound()
    {
        var (x, w, exact) = Problem(DType.F16);
        var y = Accumulated(x, w, DType.F16, K, DType.F16);
        double err = ErrorMetrics.RelativeFrobenius(exact, y);
        var result = Checks.Close("fp16 accumulator", exact, y, N, Tolerance.OneRounding(DType.F16, "test"));
        Assert.False(result.Passed, $"rel err {err}: {result.Detail}");
    }

    [Fact]
    public void A_bf16_partial_carried_across_k_tiles_fails_the_bf16_bound()
    {
        var (x, w, exact) = Problem(DType.BF16);
        // fp32 inside each 64-wide K tile, the running sum kept in bf16 between tiles.
        var y = Accumulated(x, w, DType.F32, 64, DType.BF16);
        var carried = new float[M * N];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                float total = 0;
                for (int c0 = 0; c0 < K; c0 += 64)
                {
                    float part = 0;
                    for (int c = c0; c < Math.Min(K, c0 + 64); c++) part += x[i * K + c] * w[j * K + c];
                    total = RoundTo(total + part, DType.BF16);
                }
                carried[i * N + j] = total;
            }
        Assert.True(Checks.Close("fp32", exact, y, N, Tolerance.OneRounding(DType.BF16, "test")).Passed);
        var result = Checks.Close("bf16 carried", exact, carried, N, Tolerance.OneRounding(DType.BF16, "test"));
        Assert.False(result.Passed, result.Detail);
    }

    [Theory]
    [InlineData(DType.BF16, 1, 0.2)]
    [InlineData(DType.BF16, 4, 0.2)]
    [InlineData(DType.F16, 1, 0.03)]
    public void One_wrong_element_fails_where_the_norm_alone_would_pass(DType type, int roundings, double offByRms)
    {
        var (x, w, exact) = Problem(type);
        var y = Accumulated(x, w, DType.F32, K, type);
        var tol = new Tolerance(type, roundings, "test");
        int at = 37 * N + 101;
        y[at] = RoundTo(exact[at] + offByRms * Rms(exact, 37), type);   // a fraction of the row's RMS: small in the norm of 10,790 values
        double err = ErrorMetrics.RelativeFrobenius(exact, y);
        Assert.True(err <= tol.Frobenius, $"the norm alone ({err}) would have passed");
        var result = Checks.Close("one wrong element", exact, y, N, tol);
        Assert.False(result.Passed, result.Detail);
        Assert.Contains("[37, 101]", result.Detail);
    }

    [Fact]
    public void One_wrong_row_fails()
    {
        var (x, w, exact) = Problem(DType.BF16);
        var y = Accumulated(x, w, DType.F32, K, DType.BF16);
        for (int j = 0; j < N; j++) y[50 * N + j] = y[51 * N + j];   // row 50 computed from the wrong token
        var result = Checks.Close("wrong row", exact, y, N, new Tolerance(DType.BF16, 4, "test"));
        Assert.False(result.Passed, result.Detail);
        Assert.Contains("[50, ", result.Detail);
    }

    [Fact]
    public void Bounds_follow_the_type_and_the_number_of_roundings()
    {
        Assert.Equal(Math.ScaleB(1, -8) + Tolerance.Fp32Accumulation, Tolerance.OneRounding(DType.BF16, "").Frobenius, 15);
        Assert.Equal(Math.ScaleB(1, -11) + Tolerance.Fp32Accumulation, Tolerance.OneRounding(DType.F16, "").Frobenius, 15);
        Assert.Equal(2 * Math.ScaleB(1, -8) + Tolerance.Fp32Accumulation, new Tolerance(DType.BF16, 4, "").Frobenius, 15);
        Assert.Equal(Tolerance.Fp32Accumulation, Tolerance.OneRounding(DType.BF16, "").RmsFraction);
        Assert.Equal(Math.ScaleB(1, -7), ErrorMetrics.Ulp(1.5, DType.BF16));
        Assert.Equal(Math.ScaleB(1, -10), ErrorMetrics.Ulp(1.0, DType.F16));
        Assert.Equal(Math.ScaleB(1, -24), ErrorMetrics.Ulp(1e-9, DType.F16));   // fp16 subnormal spacing
    }

    [Fact]
    public void Half_step_check_rejects_a_quantizer_that_writes_zeros()
    {
        var w = HostData.Floats(512, 5, -1f, 1f);
        var q = QuantizedHalfSteps(w, out var step);
        Assert.True(Checks.WithinHalfStep("rounded", w, q, _ => step / 2).Passed);
        Assert.False(Checks.WithinHalfStep("zeros", w, new float[w.Length], _ => step / 2).Passed);
    }

    [Fact]
    public void Half_step_check_names_the_first_worst_element_across_its_parallel_chunks()
    {
        // 200,003 values: four chunks of 2^16 and a short one. Equal worst errors in the second and fourth chunk: the
        // first is reported, as one pass in order would; one more step past half fails and is the one named.
        var w = HostData.Floats(200_003, 6, -1f, 1f);
        var q = (float[])w.Clone();
        const float step = 0.25f;
        q[70_000] = w[70_000] + 0.9f * step / 2;
        q[190_000] = w[190_000] + 0.9f * step / 2;
        var near = Checks.WithinHalfStep("near", w, q, _ => step / 2);
        Assert.True(near.Passed, near.Detail);
        Assert.Contains("worst [70000]", near.Detail);
        q[200_002] = w[200_002] + 1.5f * step / 2;
        var over = Checks.WithinHalfStep("over", w, q, _ => step / 2);
        Assert.False(over.Passed);
        Assert.Contains("worst [200002]", over.Detail);
    }

    private static float[] QuantizedHalfSteps(float[] w, out float step)
    {
        float s = w.Max(MathF.Abs) / 7;
        step = s;
        return Array.ConvertAll(w, v => MathF.Round(v / s, MidpointRounding.ToEven) * s);
    }

    [Fact]
    public void The_fast_oracle_product_matches_plain_double_dot_products()
    {
        var (x, w, fast) = Problem(DType.BF16);
        for (int i = 0; i < M; i += 17)
            for (int j = 0; j < N; j += 13)
            {
                double d = Float64.Dot(x.AsSpan(i * K, K), w.AsSpan(j * K, K)), scale = 0;
                for (int c = 0; c < K; c++) scale += Math.Abs((double)x[i * K + c] * w[j * K + c]);
                double bound = Math.ScaleB(scale, -19);   // 32 fp32 additions per lane: 32 · 2^-24 of the absolute sum
                Assert.InRange(fast[i * N + j] - d, -bound, bound);
            }
        Assert.Throws<ArgumentException>(() => Float64.MatMulT(new[] { 1.0000001f }, 1, new[] { 1f }, 1, 1));
    }

    private static double Rms(double[] e, int row)
    {
        double ss = 0;
        for (int j = 0; j < N; j++) ss += e[row * N + j] * e[row * N + j];
        return Math.Sqrt(ss / N);
    }
}
