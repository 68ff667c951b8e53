namespace GraphEngine.Tests.Kernels.Numerics;

/// <summary>The span conversions (parallel blocks, bf16 in SIMD lanes) give exactly the scalar conversions' bits.</summary>
public class HalfConvertTests
{
    /// <summary>Hashed bit patterns (NaN of every payload, infinities, subnormals included), then every bf16 tie and its neighbours.</summary>
    private static float[] Inputs(int count)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++)
        {
            uint h = GraphEngine.Kernels.Random.RandomFill.Hash32((uint)i);
            v[i] = BitConverter.UInt32BitsToSingle(i % 3 == 0 ? (h & 0xFFFF_0000) | 0x8000 | (uint)(i % 5 == 0 ? 1 : 0) : h);
        }
        v[0] = float.NaN; v[1] = float.PositiveInfinity; v[2] = float.NegativeInfinity; v[3] = float.MaxValue; v[4] = -0f; v[5] = float.Epsilon;
        return v;
    }

    [Theory]
    [InlineData(DType.BF16, 6)]
    [InlineData(DType.BF16, 77)]
    [InlineData(DType.BF16, 200_003)]
    [InlineData(DType.F16, 77)]
    [InlineData(DType.F16, 200_003)]
    public void FromFloats_matches_the_scalar_rounding(DType dtype, int count)
    {
        var x = Inputs(count);
        var bits = new ushort[count];
        HalfConvert.FromFloats(x, bits, dtype);
        for (int i = 0; i < count; i++)
            if (bits[i] != HalfBits.FromFloat(x[i], dtype)) Assert.Fail($"{dtype} [{i}] {x[i]:R}: {bits[i]:X4}, scalar {HalfBits.FromFloat(x[i], dtype):X4}");
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void ToFloats_matches_the_scalar_value_of_every_pattern(DType dtype)
    {
        // Every 16-bit pattern, three times over and 5 more: more than one parallel block, a length off the vector width.
        var bits = new ushort[3 * 65536 + 5];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var f = new float[bits.Length];
        HalfConvert.ToFloats(bits, f, dtype);
        for (int i = 0; i < bits.Length; i++)
            if (BitConverter.SingleToUInt32Bits(f[i]) != BitConverter.SingleToUInt32Bits(HalfBits.ToFloat(bits[i], dtype)))
                Assert.Fail($"{dtype} {bits[i]:X4}: {f[i]:R}, scalar {HalfBits.ToFloat(bits[i], dtype):R}");
    }

    [Fact]
    public void Mismatched_lengths_and_types_are_refused()
    {
        Assert.Throws<ArgumentException>(() => HalfConvert.FromFloats(new float[3], new ushort[2], DType.BF16));
        Assert.Throws<ArgumentOutOfRangeException>(() => HalfConvert.ToFloats(new ushort[2], new float[2], DType.F32));
    }

    [Fact]
    public void Staged_upload_and_download_round_trip_past_one_staging_buffer()
    {
        // 2^24 elements per staged copy: 2^24 + 3 values cross one boundary and leave a short last slice.
        using var device = new ReferenceDevice();
        int count = (1 << 24) + 3;
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = GraphEngine.Kernels.Random.RandomFill.UniformValue(i, 7, 2f, 0f);
        x[count - 1] = float.NaN;
        using var buf = device.AllocateTensor(DType.BF16, new long[] { count }, out var t, "staged");
        t.UploadFloats(x);
        var raw = t.ToArray<ushort>();
        var back = t.DownloadFloats();
        for (int i = 0; i < count; i++)
            if (raw[i] != Bf16.FromFloat(x[i]) || BitConverter.SingleToUInt32Bits(back[i]) != BitConverter.SingleToUInt32Bits(Bf16.ToFloat(raw[i])))
                Assert.Fail($"[{i}] {x[i]:R}: stored {raw[i]:X4}, read back {back[i]:R}");
    }
}
