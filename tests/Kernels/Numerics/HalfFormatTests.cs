namespace GraphEngine.Tests.Kernels.Numerics;

public class HalfFormatTests
{
    /// <summary>Nearest bf16 by comparing the two candidates in double, ties to the even pattern.</summary>
    private static ushort Bf16Oracle(float x)
    {
        uint u = BitConverter.SingleToUInt32Bits(x);
        ushort lo = (ushort)(u >> 16), hi = (ushort)(lo + 1);
        double below = Math.Abs((double)x - Bf16.ToFloat(lo));
        double above = Math.Abs(Bf16.ToFloat(hi) - (double)x); // inf when hi is infinity: only chosen on a tie or above
        if ((u & 0xFFFF) == 0) return lo;
        if (below < above) return lo;
        if (above < below) return hi;
        return (lo & 1) == 0 ? lo : hi;
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even_on_hashed_inputs_and_every_tie()
    {
        for (uint i = 0; i < 200_000; i++)
        {
            float x = BitConverter.UInt32BitsToSingle(GraphEngine.Kernels.Random.RandomFill.Hash32(i));
            if (float.IsNaN(x) || float.IsInfinity(x)) continue;
            if ((BitConverter.SingleToUInt32Bits(x) & 0x7FFF_FFFF) >= 0x7F7F_8000) continue; // overflow: below
            if (Bf16Oracle(x) != Bf16.FromFloat(x)) Assert.Fail($"{x:R}");
        }
        for (uint hi = 0; hi < 0x7F7F; hi++)
        {
            bool ok = Bf16.FromFloat(BitConverter.UInt32BitsToSingle(hi << 16 | 0x8000)) == ((hi & 1) == 0 ? hi : hi + 1)
                && Bf16.FromFloat(BitConverter.UInt32BitsToSingle(hi << 16 | 0x7FFF)) == hi
                && Bf16.FromFloat(BitConverter.UInt32BitsToSingle(hi << 16 | 0x8001)) == hi + 1;
            if (!ok) Assert.Fail($"tie around bf16 0x{hi:X4}");
        }
    }

    [Fact]
    public void Bf16_nan_is_0x7FFF_and_overflow_goes_to_infinity()
    {
        Assert.Equal(0x7FFF, Bf16.FromFloat(float.NaN));
        Assert.Equal(0x7FFF, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC0_0001)));
        Assert.Equal(0x7FFF, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F80_0001))); // would round to inf if not caught
        Assert.Equal(0x7F80, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F7F_8000)));
        Assert.Equal(0xFF80, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0xFF7F_8000)));
        Assert.Equal(0x7F7F, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(0x7F7F_7FFF)));
        Assert.Equal(0x7F80, Bf16.FromFloat(float.PositiveInfinity));
    }

    [Fact]
    public void Every_non_nan_bf16_and_fp16_pattern_round_trips()
    {
        for (int b = 0; b < 65536; b++)
        {
            float v = Bf16.ToFloat((ushort)b);
            if (!float.IsNaN(v) && Bf16.FromFloat(v) != b) Assert.Fail($"bf16 0x{b:X4}");
            float h = HalfBits.ToFloat((ushort)b);
            if (!float.IsNaN(h) && HalfBits.FromFloat(h) != b) Assert.Fail($"fp16 0x{b:X4}");
        }
    }

    [Fact]
    public void Fp16_nan_overflow_and_ties()
    {
        Assert.Equal(0x7FFF, HalfBits.FromFloat(float.NaN));
        Assert.Equal(0x7FFF, HalfBits.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC0_0000)));
        Assert.Equal(0x7C00, HalfBits.FromFloat(65520f));             // tie 65504 / 65536 -> inf
        Assert.Equal(0x7BFF, HalfBits.FromFloat(MathF.BitDecrement(65520f)));
        Assert.Equal(0x3C00, HalfBits.FromFloat(1f + MathF.ScaleB(1, -11)));   // tie -> even 1
        Assert.Equal(0x3C02, HalfBits.FromFloat(1f + 3 * MathF.ScaleB(1, -11)));
        Assert.Equal(0x0000, HalfBits.FromFloat(MathF.ScaleB(1, -25)));        // half the smallest subnormal
        Assert.Equal(0x0001, HalfBits.FromFloat(MathF.BitIncrement(MathF.ScaleB(1, -25))));
    }
}
