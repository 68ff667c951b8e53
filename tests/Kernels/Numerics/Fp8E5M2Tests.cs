namespace GraphEngine.Tests.Kernels.Numerics;

public class Fp8E5M2Tests
{
    private static readonly double[] Values = Enumerable.Range(0, 0x7C).Select(c => (double)Fp8E5M2.ToFloat((byte)c)).ToArray();

    [Theory]
    [InlineData(0x7B, 57344.0)]
    [InlineData(0x01, 1.52587890625e-05)]  // 2^-16, smallest subnormal
    [InlineData(0x04, 6.103515625e-05)]    // 2^-14, smallest normal
    [InlineData(0x3C, 1.0)]
    [InlineData(0x3F, 1.75)]
    [InlineData(0xBE, -1.5)]
    [InlineData(0x7C, double.PositiveInfinity)]
    [InlineData(0xFC, double.NegativeInfinity)]
    public void Decodes_known_values(int bits, double value) => Assert.Equal(value, Fp8E5M2.ToFloat((byte)bits));

    [Fact]
    public void Nan_patterns_are_the_six_with_all_ones_exponent_and_non_zero_mantissa()
    {
        var nans = Enumerable.Range(0, 256).Where(b => float.IsNaN(Fp8E5M2.ToFloat((byte)b))).ToArray();
        Assert.Equal(new[] { 0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF }, nans);
    }

    [Fact]
    public void Every_non_nan_pattern_round_trips_and_decode_is_increasing()
    {
        for (int b = 0; b < 256; b++)
        {
            if (Fp8E5M2.IsNaN((byte)b)) continue;
            float v = Fp8E5M2.ToFloat((byte)b);
            // Infinity itself only survives without saturation.
            int satExpected = (b & 0x7F) == 0x7C ? (b & 0x80) | 0x7B : b;
            Assert.Equal(satExpected, Fp8E5M2.FromFloat(v, Fp8Saturation.SatFinite));
            Assert.Equal(b, Fp8E5M2.FromFloat(v, Fp8Saturation.NoSat));
        }
        for (int c = 1; c <= Fp8E5M2.Infinity; c++)
            Assert.True(Fp8E5M2.ToFloat((byte)c) > Fp8E5M2.ToFloat((byte)(c - 1)), $"code 0x{c:X2}");
    }

    [Fact]
    public void Encoding_matches_nearest_even_search_on_every_fp16_input_and_every_tie() =>
        // The fp16 infinities are inputs too: they overflow like any value past the top tie.
        NarrowOracle.AssertFp8NearestEven(Fp8E5M2.FromFloat, Values, 65536, maxFinite: 0x7B, noSatOverflow: 0x7C);

    [Theory]
    [InlineData(1.125f, 0x3C)]              // tie 1 / 1.25 -> even 1
    [InlineData(1.375f, 0x3E)]              // tie 1.25 / 1.5 -> even 1.5
    [InlineData(7.62939453125e-06f, 0x00)]  // 2^-17 -> 0
    [InlineData(61439.996f, 0x7B)]          // just below the overflow tie
    public void Ties_go_to_even(float x, int bits) => Assert.Equal(bits, Fp8E5M2.FromFloat(x, Fp8Saturation.NoSat));

    [Fact]
    public void Overflow_saturates_or_goes_to_infinity() =>
        // 61440 is the tie between 57344 (odd mantissa) and 65536: IEEE rounds it up, i.e. it overflows.
        NarrowOracle.AssertFp8Overflow(Fp8E5M2.FromFloat, new[] { 61440f, 1e6f, float.PositiveInfinity }, satFinite: 0x7B, noSat: 0x7C);

    [Fact]
    public void Float_nan_is_canonical_but_double_nan_keeps_sign_and_top_payload_bits()
    {
        Assert.Equal(0x7F, Fp8E5M2.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC0_0000), Fp8Saturation.NoSat));
        Assert.Equal(0x7F, Fp8E5M2.FromFloat(float.NaN, Fp8Saturation.SatFinite));
        Assert.Equal(0x7E, Fp8E5M2.FromDouble(BitConverter.UInt64BitsToDouble(0x7FF8_0000_0000_0000)));
        Assert.Equal(0xFF, Fp8E5M2.FromDouble(BitConverter.UInt64BitsToDouble(0xFFFC_0000_0000_0000)));
        // A signalling NaN with an empty top payload still encodes as a NaN (the quiet bit is forced).
        Assert.True(Fp8E5M2.IsNaN(Fp8E5M2.FromDouble(BitConverter.UInt64BitsToDouble(0x7FF0_0000_0000_0001))));
    }
}
