using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Quant;

public class WeightOnlyPackingTests
{
    private static sbyte[] RandomQ(int n, int k, int qmin, int qmax, int seed)
    {
        var rng = new Random(seed);
        var q = new sbyte[n * k];
        for (int i = 0; i < q.Length; i++) q[i] = (sbyte)rng.Next(qmin, qmax + 1);
        return q;
    }

    /// <summary>The kernel layout of <paramref name="q"/> [n, k].</summary>
    private static byte[] Repacked(WeightOnlyFormat f, sbyte[] q, int n, int k)
    {
        var packed = new byte[WeightOnlyPacking.PackedBytes(f, n, k)];
        WeightOnlyPacking.Repack(f, q, n, k, packed);
        return packed;
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int8, 1, 8)]
    [InlineData(WeightOnlyFormat.Int8, 17, 769)]
    [InlineData(WeightOnlyFormat.Int4, 33, 70)]
    [InlineData(WeightOnlyFormat.Int4, 16, 128)]
    public void Repack_then_unpack_is_the_identity(WeightOnlyFormat f, int n, int k)
    {
        var q = f == WeightOnlyFormat.Int8 ? RandomQ(n, k, -127, 127, 1) : RandomQ(n, k, -8, 7, 1);
        var packed = Repacked(f, q, n, k);
        var back = new sbyte[n * k];
        WeightOnlyPacking.Unpack(f, packed, n, k, back);
        Assert.Equal(q, back);
    }

    /// <summary>
    /// Emulates the kernel's int4 conversion on the packed bytes: register r of k-tile kt is
    /// ((word >> 4r) & 0x000F000F) | 0x43004300 as two bf16, minus 136. Its two halves must be the
    /// A-fragment elements {2r, 2r+1} of the lane, at the rows and columns PTX's m16n8k16 layout gives.
    /// </summary>
    [Fact]
    public void Int4_nibble_order_gives_mma_fragments_with_the_magic_number_trick()
    {
        int n = 20, k = 100;
        var q = RandomQ(n, k, -8, 7, 2);
        var packed = Repacked(WeightOnlyFormat.Int4, q, n, k);
        int chunks = WeightOnlyPacking.ChunksK(WeightOnlyFormat.Int4, k), checkedValues = 0;
        for (int tile = 0; tile < WeightOnlyPacking.PaddedN(n) / 16; tile++)
            for (int c = 0; c < chunks; c++)
                for (int lane = 0; lane < 32; lane++)
                    for (int kt = 0; kt < 4; kt++)
                    {
                        int off = ((tile * chunks + c) * 32 + lane) * 16 + kt * 4;
                        uint word = BitConverter.ToUInt32(packed, off);
                        for (int r = 0; r < 4; r++)
                        {
                            uint reg = ((word >> (4 * r)) & 0x000F000Fu) | 0x43004300u;
                            float lo = BitConverter.UInt32BitsToSingle((reg & 0xFFFF) << 16) - 136f;
                            float hi = BitConverter.UInt32BitsToSingle((reg >> 16) << 16) - 136f;
                            int g = lane >> 2, t = lane & 3;
                            int row = tile * 16 + g + (r & 1) * 8;          // registers 1 and 3 are rows g + 8
                            int col = c * 64 + kt * 16 + 2 * t + (r >> 1) * 8;  // registers 2 and 3 are k + 8
                            Assert.Equal(row < n && col < k ? q[row * k + col] : 0, lo);
                            Assert.Equal(row < n && col + 1 < k ? q[row * k + col + 1] : 0, hi);
                            checkedValues += 2;
                        }
                    }
        Assert.Equal(WeightOnlyPacking.PackedBytes(WeightOnlyFormat.Int4, n, k) * 2, checkedValues);
    }

    [Fact]
    public void Int8_bytes_give_mma_fragments_through_the_fp16_byte_permute()
    {
        int n = 16, k = 40;
        var q = RandomQ(n, k, -127, 127, 3);
        var packed = Repacked(WeightOnlyFormat.Int8, q, n, k);
        int chunks = WeightOnlyPacking.ChunksK(WeightOnlyFormat.Int8, k);
        for (int c = 0; c < chunks; c++)
            for (int lane = 0; lane < 32; lane++)
                for (int kt = 0; kt < 2; kt++)
                    for (int e = 0; e < 8; e++)
                    {
                        byte b = packed[(c * 32 + lane) * 16 + kt * 8 + e];
                        // 0x64XX as fp16 is 1024 + XX; minus 1152 gives q.
                        float v = (float)BitConverter.UInt16BitsToHalf((ushort)(0x6400 | b)) - 1152f;
                        int g = lane >> 2, t = lane & 3;
                        int row = g + ((e >> 1) & 1) * 8, col = c * 32 + kt * 16 + 2 * t + (e & 1) + (e >> 2) * 8;
                        Assert.Equal(col < k ? q[row * k + col] : 0, v);
                    }
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int8, "per-channel", 769)]
    [InlineData(WeightOnlyFormat.Int4, "per-channel", 769)]
    [InlineData(WeightOnlyFormat.Int4, "g64", 640)]
    [InlineData(WeightOnlyFormat.Int4, "g128", 640)]
    public void Quantize_then_dequantize_stays_within_half_a_step(WeightOnlyFormat f, string group, int k)
    {
        var scheme = new WeightOnlyScheme(f, GroupSize.Parse(group));
        int n = 9;
        var rng = new Random(4);
        var w = new float[n * k];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * (1 + i % 5);
        var q = new sbyte[w.Length];
        var s = new float[n * scheme.Groups(k)];
        WeightOnlyPacking.Quantize(w, n, k, scheme, q, s);
        var packed = Repacked(f, q, n, k);
        var ps = new float[scheme.Groups(k) * WeightOnlyPacking.PaddedN(n)];
        WeightOnlyPacking.RepackScales(s, n, scheme.Groups(k), ps);
        var deq = WeightOnlyPacking.Dequantize(scheme, packed, ps, n, k);
        int gsize = k / scheme.Groups(k);
        double num = 0, den = 0;
        for (int i = 0; i < w.Length; i++)
        {
            float scale = s[(i / k) * scheme.Groups(k) + (i % k) / gsize];
            // Round to nearest: at most half a step (plus the fp32 rounding of the product).
            Assert.True(Math.Abs(deq[i] - w[i]) <= scale * 0.5f * (1 + 1e-5f) + 1e-7f, $"element {i}: {w[i]} -> {deq[i]}, step {scale}");
            Assert.InRange(q[i], -scheme.QMax, scheme.QMax);
            num += (deq[i] - w[i]) * (double)(deq[i] - w[i]);
            den += w[i] * (double)w[i];
        }
        // Relative Frobenius error: about 1/(2 qmax) for weights spread over the range; bound 1/qmax.
        Assert.True(Math.Sqrt(num / den) < 1.0 / scheme.QMax, $"relative error {Math.Sqrt(num / den)}");
        Assert.True(Math.Sqrt(num / den) > 0, "quantization must lose something on random weights");
    }

    [Fact]
    public void Quantizer_rounds_half_to_even_and_maps_zero_rows_and_nan_to_zero()
    {
        Assert.Equal(2, WeightOnlyPacking.QuantizeValue(2.5f, 1f, 7));
        Assert.Equal(4, WeightOnlyPacking.QuantizeValue(3.5f, 1f, 7));
        Assert.Equal(-7, WeightOnlyPacking.QuantizeValue(-9f, 1f, 7));
        Assert.Equal(0, WeightOnlyPacking.QuantizeValue(float.NaN, 1f, 7));
        var q = new sbyte[4];
        var s = new float[1];
        WeightOnlyPacking.Quantize(new float[4], 1, 4, WeightOnlyScheme.Int8PerChannel, q, s);
        Assert.Equal(0f, s[0]);
        Assert.All(q, v => Assert.Equal(0, v));
    }

    [Fact]
    public void Int4_bytes_unpack_low_nibble_first_twos_complement()
    {
        var values = new sbyte[4];
        WeightOnlyPacking.UnpackInt4Bytes(new byte[] { 0x8F, 0x71 }, values);
        Assert.Equal(new sbyte[] { -1, -8, 1, 7 }, values);
    }

    [Theory]
    [InlineData(4096, 4096, 0, 132)]
    [InlineData(4096, 4096, 128, 132)]
    [InlineData(8192, 8192, 64, 132)]
    [InlineData(40, 769, 0, 132)]
    public void Split_k_starts_on_groups_and_fits_shared_memory(int n, int k, int group, int sms)
    {
        var f = WeightOnlyFormat.Int4;
        int chunks = WeightOnlyPacking.ChunksK(f, k), chunkK = WeightOnlyPacking.ChunkK(f);
        int cpg = group == 0 ? 1 : group / chunkK;
        int blocksN = (WeightOnlyPacking.PaddedN(n) / 16 + 3) / 4;
        var (splits, cps) = WeightOnlyGemmCuda.SplitK(chunks, chunkK, cpg, blocksN, sms);
        Assert.Equal(0, cps % cpg);
        Assert.True(cps * chunkK <= 1024, $"split of {cps * chunkK} k");
        Assert.True(splits * cps >= chunks && (splits - 1) * cps < chunks, $"{splits} splits of {cps} for {chunks} chunks");
        if (n >= 4096) Assert.True(splits * blocksN * 4 >= sms * 8, $"only {splits * blocksN * 4} warps for {sms} SMs");
    }

    // wo_gemv's launch shape, as the CUDA launcher computes it (no GPU needed). 232448 bytes is the
    // H100/H200 opt-in shared memory per block, 132 their SM count.
    [Theory]
    [InlineData(WeightOnlyFormat.Int4, 4096, 4096, 128, 1, 2, 1)]    // 256 tiles fit two per SM at TN 1
    [InlineData(WeightOnlyFormat.Int4, 8192, 4096, 128, 1, 8, 2)]
    [InlineData(WeightOnlyFormat.Int8, 4096, 8192, 0, 1, 8, 2)]      // 131 KiB staged: one block per SM
    [InlineData(WeightOnlyFormat.Int4, 4096, 4096, 128, 2, 16, 2)]   // g128 at 16 rows stops at TN 2
    [InlineData(WeightOnlyFormat.Int4, 8192, 8192, 64, 1, 8, 4)]
    [InlineData(WeightOnlyFormat.Int4, 77, 769, 0, 1, 8, 1)]
    public void Gemv_shape_covers_k_in_whole_groups_and_fits_shared_memory(WeightOnlyFormat f, int n, int k, int group, int nt, int rows, int expectTn)
    {
        const int optin = 232448, sms = 132;
        int chunks = WeightOnlyPacking.ChunksK(f, k), chunkK = WeightOnlyPacking.ChunkK(f);
        int cpg = group == 0 ? 1 : group / chunkK;
        int groups = group == 0 ? 1 : k / group;
        int tiles = WeightOnlyPacking.PaddedN(n) / WeightOnlyPacking.TileN;
        var shape = WeightOnlyGemmCuda.Gemv(tiles, chunks, chunkK, cpg, groups, nt, rows, sms, optin);
        Assert.NotNull(shape);
        var sh = shape!.Value;
        Assert.Equal(expectTn, sh.Tn);
        Assert.Equal(0, sh.ChunksPerWarp % cpg);
        Assert.True(sh.ChunksPerWarp * WeightOnlyGemmCuda.GemvWarps >= chunks, $"{sh.ChunksPerWarp} chunks x {WeightOnlyGemmCuda.GemvWarps} warps < {chunks}");
        Assert.True(sh.Blocks * sh.Tn >= tiles && (sh.Blocks - 1) * sh.Tn < tiles, $"{sh.Blocks} blocks of {sh.Tn} tiles for {tiles}");
        Assert.True(sh.MaxSharedBytes <= optin, $"{sh.MaxSharedBytes} bytes of shared memory");
        for (int r = 1; r <= rows; r++)
            Assert.True(WeightOnlyGemmCuda.GemvSharedBytes(sh.Tn, nt, r, chunks, chunkK, groups) <= sh.MaxSharedBytes);
    }

    [Fact]
    public void Gemv_declines_what_shared_memory_cannot_stage()
    {
        // 16 rows of K = 8192 activations are 262 KiB: the split-K kernel takes that case.
        var f = WeightOnlyFormat.Int4;
        int chunks = WeightOnlyPacking.ChunksK(f, 8192), chunkK = WeightOnlyPacking.ChunkK(f);
        Assert.Null(WeightOnlyGemmCuda.Gemv(256, chunks, chunkK, 2, 64, 2, 16, 132, 232448));
    }
}
