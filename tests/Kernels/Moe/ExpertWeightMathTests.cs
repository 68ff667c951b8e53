using GraphEngine.Kernels.Moe;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The host segment quantizer (the rule the CUDA expert quantizers are checked against byte for byte) against the
/// plain scalar statement of it: scale = max |w| / qmax, q = clamp(round-half-even(w / scale)), on segments whose
/// lengths leave a scalar tail after the vector lanes, with exact ties, negative values that round to zero and
/// all-zero segments.
/// </summary>
public class ExpertWeightMathTests
{
    private static float Scalar(ReadOnlySpan<float> w, int qmax, Span<int> q)
    {
        float maxAbs = 0f;
        foreach (var v in w) maxAbs = MathF.Max(maxAbs, MathF.Abs(v));
        float scale = maxAbs / qmax;
        for (int i = 0; i < w.Length; i++)
            q[i] = scale > 0f ? (int)Math.Clamp(MathF.Round(w[i] / scale, MidpointRounding.ToEven), -qmax, qmax) : 0;
        return scale;
    }

    [Theory]
    [InlineData(7, 1)]
    [InlineData(7, 37)]
    [InlineData(127, 128)]
    [InlineData(127, 2563)]
    [InlineData(7, 2560)]
    public void Segment_codes_and_scale_equal_the_scalar_rule(int qmax, int length)
    {
        var rng = new Random(length * 31 + qmax);
        // max |w| = qmax / 16: the scale is exactly 1/16, so w = 2.5/16 and -3.5/16 are exact ties (to 2 and -4).
        float top = qmax / 16f;
        var w = new float[length];
        for (int i = 0; i < length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * top;
        w[0] = top;
        if (length > 3) { w[1] = 2.5f / 16; w[2] = -3.5f / 16; w[3] = -1e-9f; }
        var expected = new int[length];
        var actual = new int[length];
        float es = Scalar(w, qmax, expected);
        float s = ExpertWeightMath.QuantizeSegment(w, qmax, actual);
        Assert.Equal(1f / 16, s);
        Assert.Equal(BitConverter.SingleToUInt32Bits(es), BitConverter.SingleToUInt32Bits(s));
        Assert.Equal(expected, actual);
        if (length > 3) Assert.Equal(new[] { 2, -4, 0 }, actual[1..4]);
    }

    [Fact]
    public void An_all_zero_segment_has_scale_zero_and_zero_codes()
    {
        var w = new float[41];
        w[5] = -0f;
        var q = Enumerable.Repeat(99, 41).ToArray();
        Assert.Equal(0f, ExpertWeightMath.QuantizeSegment(w, 7, q));
        Assert.All(q, c => Assert.Equal(0, c));
    }

    [Fact]
    public void A_code_buffer_shorter_than_the_segment_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => ExpertWeightMath.QuantizeSegment(new float[10], 7, new int[9]));
        Assert.Equal("q", e.ParamName);
    }
}
