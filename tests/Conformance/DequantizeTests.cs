using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Conformance;

/// <summary>The fused and parallel host dequantizers the oracles use give bit for bit what the element-wise definitions give.</summary>
public class DequantizeTests
{
    [Theory]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 0)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 0)]
    [InlineData(ExpertWeightFormat.Int4Group, 64)]
    [InlineData(ExpertWeightFormat.Int4Group, 128)]
    [InlineData(ExpertWeightFormat.Int4ZeroPointGroup, 128)]
    public void Expert_dequantize_equals_decode_then_scale_bit_for_bit(ExpertWeightFormat format, int groupSize)
    {
        const int n = 37, k = 256;
        var group = groupSize == 0 ? GroupSize.PerChannel : GroupSize.Of(groupSize);
        int groups = groupSize == 0 ? 1 : k / groupSize;
        var weights = HostData.Bytes(format == ExpertWeightFormat.Int8PerChannel ? n * k : n * k / 2, 3);
        var scales = HostData.Floats(n * groups, 4, 1e-3f, 0.1f);
        var zeros = HostData.Floats(n * groups, 5, 6f, 9f);
        foreach (var act in new[] { DType.BF16, DType.F16 })
        {
            var decoded = new float[n * k];
            ExpertWeightMath.Decode(format, act, n, k, group, weights, scales, zeros, decoded);
            var fused = ExpertWeightMath.Dequantize(format, act, n, k, group, weights, scales, zeros);
            for (int r = 0; r < n; r++)
                for (int i = 0; i < k; i++)
                {
                    float expected = decoded[r * k + i] * scales[r * groups + (groupSize == 0 ? 0 : i / groupSize)];
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(fused[r * k + i]));
                }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void W4afp8_dequantize_equals_the_element_definition(bool grouped)
    {
        const int n = 130, k = 264;
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = W4AFp8GroupGemm.ScaleGroups(kp, grouped);
        var q = HostData.Bytes(np * kp / 2, 6);
        var s = HostData.Floats(groups * np, 7, 1f, 50f);
        var actual = W4AFp8GroupGemm.HostDequantize(q, s, n, k, grouped);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
            {
                float expected = W4AFp8GroupGemm.ValueAt(q, kp, r, c) * (s[(grouped ? c / W4AFp8GroupGemm.GroupSize : 0) * np + r] / W4AFp8GroupGemm.NibbleFactor);
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual[(long)r * k + c]));
            }
    }

    [Fact]
    public void W4afp8_row_values_equal_the_element_definition()
    {
        const int n = 7, k = 264;
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k);
        var q = HostData.Bytes(np * kp / 2, 8);
        var row = new float[kp + 3];
        Array.Fill(row, float.NaN);
        for (int r = 0; r < n; r++)
        {
            W4AFp8GroupGemm.RowValues(q, kp, r, row);
            for (int c = 0; c < kp; c++) Assert.Equal(W4AFp8GroupGemm.ValueAt(q, kp, r, c), row[c]);
            Assert.All(row[kp..], v => Assert.True(float.IsNaN(v), "nothing written past kp"));
        }
    }

    [Fact]
    public void Nvfp4_dequantize_equals_the_element_definition()
    {
        const int n = 130, k = 200;
        int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k);
        var q = HostData.Bytes(np * kp / 2, 8);
        var s = HostData.Bytes(np * kp / Nvfp4GroupGemm.BlockSize, 9);
        for (int i = 0; i < s.Length; i++) s[i] &= 0x7E;   // finite, positive e4m3 scales
        const float global = 0.0123f;
        var actual = Nvfp4GroupGemm.HostDequantize(q, s, global, n, k);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
            {
                var (pos, hi) = Nvfp4GroupGemm.Position(c);
                int code = (q[r * (kp / 2) + pos] >> (4 * hi)) & 0xF;
                float expected = Fp4E2M1.ToFloat((byte)code) * Fp8E4M3.ToFloat(s[Nvfp4GroupGemm.ScaleIndex(np, r, c)]) * global;
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual[(long)r * k + c]));
            }
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int8, 0)]
    [InlineData(WeightOnlyFormat.Int4, 0)]
    [InlineData(WeightOnlyFormat.Int4, 128)]
    public void Weight_only_dequantize_in_parallel_equals_unpack_then_scale(WeightOnlyFormat format, int groupSize)
    {
        // Large enough for several parallel tasks, N not a multiple of the 16-channel tile.
        const int n = 1203, k = 2048;
        var scheme = new WeightOnlyScheme(format, groupSize == 0 ? GroupSize.PerChannel : GroupSize.Of(groupSize));
        var packed = HostData.Bytes((int)WeightOnlyPacking.PackedBytes(format, n, k), 10);
        int groups = scheme.Groups(k), npad = WeightOnlyPacking.PaddedN(n);
        var scales = HostData.Floats(groups * npad, 11, 1e-3f, 0.1f);
        var q = new sbyte[n * k];
        WeightOnlyPacking.Unpack(format, packed, n, k, q);
        var actual = WeightOnlyPacking.Dequantize(scheme, packed, scales, n, k);
        for (int r = 0; r < n; r++)
            for (int i = 0; i < k; i++)
            {
                float expected = q[r * k + i] * scales[(i / (k / groups)) * npad + r];
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual[r * k + i]));
            }
    }
}
