using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Quant;

/// <summary>
/// The host side of the int8-activation GEMM: the stored weight layout (the int4 shuffle that puts a lane's
/// B fragment in one word, round trips, padding), the kernel's int4 -> int8 register expansion and its exact
/// 1/16 undo, the per-token activation rule and the fp32 epilogue.
/// </summary>
public class Int8ActPackingTests
{
    [Fact]
    public void Int4_layout_puts_a_lanes_b_fragment_in_one_word()
    {
        const int kp = 256;
        var seen = new HashSet<(int, bool)>();
        for (int c = 0; c < kp; c++) Assert.True(seen.Add(Int8ActPacking.Int4Position(c)), $"element {c} shares a nibble");
        // Lane t of mma.m16n8k32 needs k = 4t..4t+3 (b[0]) and 16+4t..16+4t+3 (b[1]) of each 32-wide step: the low
        // and high nibbles of bytes 4t..4t+3 of the step's 16 bytes.
        for (int step = 0; step < kp / 32; step++)
            for (int t = 0; t < 4; t++)
                for (int j = 0; j < 4; j++)
                {
                    Assert.Equal((step * 16 + 4 * t + j, false), Int8ActPacking.Int4Position(step * 32 + 4 * t + j));
                    Assert.Equal((step * 16 + 4 * t + j, true), Int8ActPacking.Int4Position(step * 32 + 16 + 4 * t + j));
                }
    }

    // The kernel's expansion: (x << 4) & 0xF0F0F0F0 and x & 0xF0F0F0F0 read as int8 bytes are 16 q of the low and
    // high nibbles, for every pair of codes in every byte position.
    [Fact]
    public void Register_expansion_gives_sixteen_times_each_code()
    {
        for (int lo = -8; lo <= 7; lo++)
            for (int hi = -8; hi <= 7; hi++)
                for (int position = 0; position < 4; position++)
                {
                    uint x = (uint)(((hi & 0xF) << 4) | (lo & 0xF)) << (8 * position) | 0x5A5A5A5Au & ~(0xFFu << (8 * position));
                    uint b0 = (x << 4) & 0xF0F0F0F0u, b1 = x & 0xF0F0F0F0u;
                    Assert.Equal(16 * lo, (sbyte)(b0 >> (8 * position)));
                    Assert.Equal(16 * hi, (sbyte)(b1 >> (8 * position)));
                }
    }

    // Why the 16x sums need no correction beyond an exact * 1/16: scaling by a power of two commutes with rounding.
    [Fact]
    public void Sixteen_times_a_sum_converted_and_scaled_by_a_sixteenth_is_the_sum_converted()
    {
        var rng = new Random(3);
        for (int i = 0; i < 100000; i++)
        {
            int part = rng.Next(-(1 << 27), 1 << 27);   // |16 part| < 2^31
            float ws = (float)rng.NextDouble(), acc = (float)(rng.NextDouble() - 0.5);
            Assert.Equal((float)part, (float)(16 * part) * 0.0625f);
            Assert.Equal(MathF.FusedMultiplyAdd(part, ws, acc), MathF.FusedMultiplyAdd((float)(16 * part) * 0.0625f, ws, acc));
        }
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int8, 0, 37, 201)]
    [InlineData(WeightOnlyFormat.Int4, 0, 130, 77)]
    [InlineData(WeightOnlyFormat.Int4, 128, 5, 384)]
    public void Pack_round_trips_codes_and_transposes_scales_with_zero_padding(WeightOnlyFormat format, int group, int n, int k)
    {
        var g = group == 0 ? GroupSize.PerChannel : GroupSize.Of(group);
        int groups = Int8ActPacking.Groups(g, k), np = (n + 127) / 128 * 128, kp = (k + 127) / 128 * 128;
        var rng = new Random(n * k);
        var q = new sbyte[n * k];
        for (int i = 0; i < q.Length; i++) q[i] = (sbyte)(format == WeightOnlyFormat.Int8 ? rng.Next(-127, 128) : rng.Next(-8, 8));
        var s = new float[n * groups];
        for (int i = 0; i < s.Length; i++) s[i] = (float)rng.NextDouble();
        var packed = new byte[np * Int8ActPacking.RowBytes(format, k)];
        var ps = new float[groups * np];
        Int8ActPacking.Pack(format, g, n, k, q, s, packed, ps);
        for (int j = 0; j < np; j++)
            for (int c = 0; c < kp; c++)
                Assert.Equal(j < n && c < k ? q[j * k + c] : 0, Int8ActPacking.CodeAt(format, packed, k, j, c));
        for (int gi = 0; gi < groups; gi++)
            for (int j = 0; j < np; j++) Assert.Equal(j < n ? s[j * groups + gi] : 0f, ps[gi * np + j]);
        var w = Int8ActPacking.Dequantize(format, g, n, k, packed, ps);
        for (int j = 0; j < n; j++)
            for (int c = 0; c < k; c++) Assert.Equal(q[j * k + c] * s[j * groups + (groups == 1 ? 0 : c / 128)], w[j * k + c]);
        // The one-thread form into a caller's buffer (what the MoE checks use per expert) gives the same values.
        var into = new float[n * k];
        Int8ActPacking.Dequantize(format, g, n, k, packed, ps, into);
        Assert.Equal(w, into);
        Assert.Throws<ArgumentException>(() => Int8ActPacking.Dequantize(format, g, n, k, packed, ps, new float[n * k - 1]));
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int4, 128, 200, "K=200")]
    [InlineData(WeightOnlyFormat.Int4, 64, 256, "128, got 64")]
    [InlineData(WeightOnlyFormat.Int8, 128, 256, "one scale per output channel")]
    [InlineData(WeightOnlyFormat.Int8, 0, 131073, "K=131073")]
    public void Validate_names_the_layer_value_and_constraint(WeightOnlyFormat format, int group, int k, string mention)
    {
        var g = group == 0 ? GroupSize.PerChannel : GroupSize.Of(group);
        var e = Assert.ThrowsAny<ArgumentException>(() => Int8ActPacking.Validate(format, g, 16, k, "linear 'proj'"));
        Assert.Contains("linear 'proj'", e.Message);
        Assert.Contains(mention, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Activation_rule_is_amax_over_127_half_to_even_clamped()
    {
        var x = new float[] { 2.5f, -1.27f, 0.5f, 1.27f, 0.015f, 0.025f };
        var q = new sbyte[128];
        float scale = Int8Quant.HostQuantizeRow(x, q);
        Assert.Equal(2.5f / 127, scale);
        Assert.Equal(127, q[0]);
        Assert.Equal(Int8Quant.Quantize(-1.27f, scale), q[1]);
        Assert.All(q.Skip(x.Length), v => Assert.Equal(0, v));
        // Halfway cases round to even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.
        Assert.Equal(2, Int8Quant.Quantize(2.5f, 1f));
        Assert.Equal(4, Int8Quant.Quantize(3.5f, 1f));
        Assert.Equal(-2, Int8Quant.Quantize(-2.5f, 1f));
        Assert.Equal(-127, Int8Quant.Quantize(-200f, 1f));   // clamped, -128 never produced
        var zeros = new float[3];
        Assert.Equal(0f, Int8Quant.HostQuantizeRow(zeros, q));
        Assert.All(q, v => Assert.Equal(0, v));
    }

    [Fact]
    public void Epilogue_applies_scales_in_the_kernels_order()
    {
        Assert.Equal((float)123456789 * 0.37f * 0.011f, Int8ActGemm.Epilogue(new[] { 123456789 }, new[] { 0.37f }, 0.011f));
        float total = MathF.FusedMultiplyAdd(-5000, 0.2f, 0f);
        total = MathF.FusedMultiplyAdd(70001, 0.3f, total);
        Assert.Equal(total * 0.5f, Int8ActGemm.Epilogue(new[] { -5000, 70001 }, new[] { 0.2f, 0.3f }, 0.5f));
    }

    [Fact]
    public void Rule_picks_the_small_tile_up_to_32_rows()
    {
        Assert.Equal(Int8ActGemmVariant.Small, Int8ActGemm.ChooseVariant(1));
        Assert.Equal(Int8ActGemmVariant.Small, Int8ActGemm.ChooseVariant(Int8ActGemm.SmallTileMaxRows));
        Assert.Equal(Int8ActGemmVariant.Large, Int8ActGemm.ChooseVariant(Int8ActGemm.SmallTileMaxRows + 1));
        Assert.Equal(6, Int8ActGemm.Variants.SelectMany(v => new[] { (WeightOnlyFormat.Int8, false), (WeightOnlyFormat.Int4, false), (WeightOnlyFormat.Int4, true) }
            .Select(f => Int8ActGemm.KernelName(v, f.Item1, f.Item2))).Distinct().Count());
    }
}
