namespace GraphEngine.Tests.Kernels.Numerics;

public class Fp4E2M1Tests
{
    private static readonly double[] Values = { 0, 0.5, 1, 1.5, 2, 3, 4, 6 };

    [Fact]
    public void Decodes_every_nibble_to_the_e2m1_table()
    {
        for (int n = 0; n < 16; n++)
        {
            float v = Fp4E2M1.ToFloat((byte)n);
            Assert.Equal(n < 8 ? Values[n] : -Values[n - 8], v);
            Assert.Equal(n >= 8, float.IsNegative(v));
        }
        Assert.Equal(6f, Fp4E2M1.ToFloat(0x7));
        Assert.Equal(0.5f, Fp4E2M1.ToFloat(0x1));
        Assert.Equal(-0.5f, Fp4E2M1.ToFloat(0x9));
    }

    [Fact]
    public void Every_nibble_round_trips()
    {
        for (int n = 0; n < 16; n++) Assert.Equal(n, Fp4E2M1.FromFloat(Fp4E2M1.ToFloat((byte)n)));
    }

    [Fact]
    public void Encoding_matches_nearest_even_search_with_saturation()
    {
        foreach (var x in NarrowOracle.F16Inputs().Concat(NarrowOracle.Ties(Values, 8)))
        {
            int code = Math.Min(NarrowOracle.Nearest(Math.Abs(x), Values, 8), 7);
            int sign = float.IsNegative(x) ? 8 : 0;
            if ((sign | code) != Fp4E2M1.FromFloat(x)) Assert.Fail($"{x:R}");
        }
    }

    [Theory]
    [InlineData(0.25f, 0x0)]  // half of 0.5 -> 0
    [InlineData(0.75f, 0x2)]  // -> 1
    [InlineData(1.25f, 0x2)]  // -> 1
    [InlineData(1.75f, 0x4)]  // -> 2
    [InlineData(2.5f, 0x4)]   // -> 2
    [InlineData(3.5f, 0x6)]   // -> 4
    [InlineData(5f, 0x6)]     // -> 4
    [InlineData(-5f, 0xE)]
    public void Ties_go_to_even(float x, int nibble) => Assert.Equal(nibble, Fp4E2M1.FromFloat(x));

    [Fact]
    public void No_inf_or_nan_so_out_of_range_saturates_and_nan_becomes_plus_six()
    {
        Assert.Equal(0x7, Fp4E2M1.FromFloat(float.PositiveInfinity));
        Assert.Equal(0xF, Fp4E2M1.FromFloat(float.NegativeInfinity));
        Assert.Equal(0x7, Fp4E2M1.FromFloat(6.0001f));
        Assert.Equal(0xF, Fp4E2M1.FromFloat(-1e30f));
        Assert.Equal(0x7, Fp4E2M1.FromFloat(float.NaN));
        Assert.Equal(0x7, Fp4E2M1.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC0_0000)));
        Assert.Equal(0x7, Fp4E2M1.FromDouble(-double.NaN));
        Assert.Equal(0x8, Fp4E2M1.FromFloat(-0.1f)); // underflow keeps the sign
    }

    [Fact]
    public void Packs_element_zero_in_the_low_nibble_and_unpacks_back()
    {
        var packed = new byte[2];
        Fp4E2M1.Pack(new[] { 0.5f, -6f, 3f, 0f }, packed);
        Assert.Equal(new byte[] { 0xF1, 0x05 }, packed);

        var all = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        var values = new float[512];
        Fp4E2M1.Unpack(all, values);
        var again = new byte[256];
        Fp4E2M1.Pack(values, again);
        Assert.Equal(all, again);
    }

    [Fact]
    public void Odd_count_or_short_destination_is_rejected_with_the_numbers()
    {
        var e = Assert.Throws<ArgumentException>(() => Fp4E2M1.Pack(new float[3], new byte[2]));
        Assert.Contains("3", e.Message);
        e = Assert.Throws<ArgumentException>(() => Fp4E2M1.Unpack(new byte[4], new float[7]));
        Assert.Contains("7", e.Message);
    }
}
