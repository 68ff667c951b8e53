namespace GraphEngine.Tests.Kernels.Numerics;

public class Int4PackingTests
{
    private static readonly byte[] AllBytes = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();

    [Fact]
    public void Signed_packs_low_nibble_first_and_round_trips_every_byte()
    {
        var packed = new byte[1];
        Int4Packing.PackSigned(new sbyte[] { -1, 7 }, packed);
        Assert.Equal(0x7F, packed[0]);
        Int4Packing.PackSigned(new sbyte[] { -8, 0 }, packed);
        Assert.Equal(0x08, packed[0]);

        var values = new sbyte[512];
        Int4Packing.UnpackSigned(AllBytes, values);
        Assert.Equal(-8, values.Min());
        Assert.Equal(7, values.Max());
        var again = new byte[256];
        Int4Packing.PackSigned(values, again);
        Assert.Equal(AllBytes, again);
    }

    [Fact]
    public void Unsigned_round_trips_every_byte()
    {
        var values = new byte[512];
        Int4Packing.UnpackUnsigned(AllBytes, values);
        Assert.Equal(0x3, values[2 * 0x43]);
        Assert.Equal(0x4, values[2 * 0x43 + 1]);
        var again = new byte[256];
        Int4Packing.PackUnsigned(values, again);
        Assert.Equal(AllBytes, again);
    }

    [Fact]
    public void Sign_magnitude_reads_bit_three_as_sign()
    {
        for (int n = 0; n < 16; n++)
            Assert.Equal(n < 8 ? n : -(n - 8), Int4Packing.SignMagnitudeNibble(n));
        var packed = new byte[1];
        Int4Packing.PackSignMagnitude(new sbyte[] { -3, 5 }, packed);
        Assert.Equal(0x5B, packed[0]);

        // Every byte without a -0 nibble (0x8) round trips; -0 reads as 0 and packs back as +0.
        var values = new sbyte[512];
        Int4Packing.UnpackSignMagnitude(AllBytes, values);
        var again = new byte[256];
        Int4Packing.PackSignMagnitude(values, again);
        for (int b = 0; b < 256; b++)
        {
            int expected = ((b & 0xF) == 0x8 ? 0 : b & 0xF) | (((b >> 4) == 0x8 ? 0 : b >> 4) << 4);
            Assert.Equal(expected, again[b]);
        }
    }

    [Fact]
    public void Out_of_range_values_and_odd_counts_are_rejected_with_the_value()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Int4Packing.PackSigned(new sbyte[] { 0, 8 }, new byte[1]));
        Assert.Contains("index 1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Int4Packing.PackSignMagnitude(new sbyte[] { -8, 0 }, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Int4Packing.PackUnsigned(new byte[] { 16, 0 }, new byte[1]));
        var odd = Assert.Throws<ArgumentException>(() => Int4Packing.PackSigned(new sbyte[3], new byte[2]));
        Assert.Contains("3", odd.Message);
    }
}
