namespace GraphEngine.Tests.Kernels.Numerics;

public class Fp8E4M3Tests
{
    private static readonly double[] Values = Enumerable.Range(0, 0x7F).Select(c => (double)Fp8E4M3.ToFloat((byte)c)).ToArray();

    [Theory]
    [InlineData(0x7E, 448.0)]
    [InlineData(0x01, 0.001953125)]   // 2^-9, smallest subnormal
    [InlineData(0x07, 0.013671875)]   // 7 * 2^-9, largest subnormal
    [InlineData(0x08, 0.015625)]      // 2^-6, smallest normal
    [InlineData(0x38, 1.0)]
    [InlineData(0x3F, 1.875)]
    [InlineData(0x77, 240.0)]         // where an IEEE-style e4m3 would stop
    [InlineData(0xFE, -448.0)]
    [InlineData(0xC0, -2.0)]
    public void Decodes_known_values(int bits, double value) => Assert.Equal(value, Fp8E4M3.ToFloat((byte)bits));

    [Fact]
    public void Nan_patterns_and_negative_zero()
    {
        Assert.True(float.IsNaN(Fp8E4M3.ToFloat(0x7F)));
        Assert.True(float.IsNaN(Fp8E4M3.ToFloat(0xFF)));
        Assert.Equal(0x8000_0000u, BitConverter.SingleToUInt32Bits(Fp8E4M3.ToFloat(0x80)));
        Assert.Equal(2, Enumerable.Range(0, 256).Count(b => float.IsNaN(Fp8E4M3.ToFloat((byte)b))));
    }

    [Fact]
    public void Every_non_nan_pattern_round_trips_in_both_modes()
    {
        for (int b = 0; b < 256; b++)
        {
            if (Fp8E4M3.IsNaN((byte)b)) continue;
            float v = Fp8E4M3.ToFloat((byte)b);
            Assert.Equal(b, Fp8E4M3.FromFloat(v, Fp8Saturation.SatFinite));
            Assert.Equal(b, Fp8E4M3.FromFloat(v, Fp8Saturation.NoSat));
            Assert.Equal(b, Fp8E4M3.FromDouble(v, Fp8Saturation.NoSat));
        }
    }

    [Fact]
    public void Decode_is_strictly_increasing_over_ordered_patterns_and_symmetric()
    {
        for (int c = 1; c <= Fp8E4M3.MaxFinite; c++)
        {
            Assert.True(Fp8E4M3.ToFloat((byte)c) > Fp8E4M3.ToFloat((byte)(c - 1)), $"code 0x{c:X2}");
            Assert.Equal(-Fp8E4M3.ToFloat((byte)c), Fp8E4M3.ToFloat((byte)(c | 0x80)));
        }
    }

    [Fact]
    public void Encoding_matches_nearest_even_search_on_every_fp16_input_and_every_tie() =>
        NarrowOracle.AssertFp8NearestEven(Fp8E4M3.FromFloat, Values, 480, maxFinite: 0x7E, noSatOverflow: 0x7F);

    [Theory]
    [InlineData(1.0625f, 0x38)]       // tie 1 / 1.125 -> even 1
    [InlineData(1.1875f, 0x3A)]       // tie 1.125 / 1.25 -> even 1.25
    [InlineData(0.0009765625f, 0x00)] // 2^-10, half the smallest subnormal -> 0
    [InlineData(0.0029296875f, 0x02)] // 1.5 * 2^-9 -> even 2 * 2^-9
    [InlineData(464f, 0x7E)]          // tie 448 / (480) -> 448, no overflow
    public void Ties_go_to_even(float x, int bits) => Assert.Equal(bits, Fp8E4M3.FromFloat(x, Fp8Saturation.NoSat));

    [Fact]
    public void Overflow_saturates_or_becomes_nan_because_e4m3_has_no_infinity() =>
        NarrowOracle.AssertFp8Overflow(Fp8E4M3.FromFloat, new[] { MathF.BitIncrement(464f), 480f, 1e6f, float.MaxValue, float.PositiveInfinity },
            satFinite: 0x7E, noSat: 0x7F);

    [Fact]
    public void Float_nan_is_canonical_but_double_nan_keeps_its_sign()
    {
        float negNaN = BitConverter.UInt32BitsToSingle(0xFFC0_0001);
        foreach (var sat in new[] { Fp8Saturation.SatFinite, Fp8Saturation.NoSat })
        {
            Assert.Equal(0x7F, Fp8E4M3.FromFloat(float.NaN, sat));
            Assert.Equal(0x7F, Fp8E4M3.FromFloat(negNaN, sat));
            Assert.Equal(0x7F, Fp8E4M3.FromDouble(BitConverter.UInt64BitsToDouble(0x7FF8_0000_0000_0000), sat));
            Assert.Equal(0xFF, Fp8E4M3.FromDouble(BitConverter.UInt64BitsToDouble(0xFFF8_0000_0000_0000), sat));
        }
    }

    [Fact]
    public void Double_and_float_entries_agree_on_every_non_nan_float_input()
    {
        foreach (var x in NarrowOracle.F16Inputs())
            if (Fp8E4M3.FromFloat(x, Fp8Saturation.NoSat) != Fp8E4M3.FromDouble(x, Fp8Saturation.NoSat)) Assert.Fail($"{x:R}");
        // A double can sit between two floats: 448 + 16 + 2^-40 is above the tie and must overflow.
        Assert.Equal(0x7F, Fp8E4M3.FromDouble(464 + Math.ScaleB(1, -40), Fp8Saturation.NoSat));
        Assert.Equal(0x7E, Fp8E4M3.FromDouble(464 - Math.ScaleB(1, -40), Fp8Saturation.NoSat));
    }
}
