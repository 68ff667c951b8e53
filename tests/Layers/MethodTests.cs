using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Tests.Layers;

public class BackendTests
{
    /// <summary>Both methods hold the same weights for every expert, bit for bit.</summary>
    private static void AssertSameExperts(IMoeMethod online, IMoeMethod loaded)
    {
        Assert.Equal(online.Experts, loaded.Experts);
        for (int x = 0; x < online.Experts; x++) Assert.Equal(online.DequantizedWeights(x), loaded.DequantizedWeights(x));
    }

    private sealed class Rig : IDisposable
    {
        public readonly ReferenceDevice Device = new();
        public readonly DevicePool Pool;
        public readonly LayerContext Ctx;
        private readonly DeviceBuffer _tok;

        public Rig(int maxTokens)
        {
            Pool = new DevicePool(Device, 0, 1 << 20);
            _tok = Device.AllocateTensor(DType.I32, new long[] { 1 }, out var t, "tokens");
            t.UploadInts(new[] { maxTokens });
            Ctx = new LayerContext(Device, Pool, maxTokens, t.Ptr);
        }

        /// <summary>Seeded bf16-rounded weights of <paramref name="shape"/> in [-0.1, 0.1), uploaded as BF16.</summary>
        public DeviceBuffer UploadRandom(uint seed, long[] shape, out float[] values, out Tensor t)
        {
            long n = shape.Aggregate(1L, (a, d) => a * d);
            values = Enumerable.Range(0, (int)n).Select(i => Bf16.Round(RandomFill.UniformValue(i, seed, 0.1f, 0))).ToArray();
            var b = Device.AllocateTensor(DType.BF16, shape, out t, "w");
            t.UploadFloats(values);
            return b;
        }

        public void Dispose()
        {
            Pool.Dispose();
            _tok.Dispose();
            Assert.Equal(0, Device.AllocatedBytes);        // nothing leaked
            Device.Dispose();
        }
    }

    [Fact]
    public void Block_fp8_prequantized_weights_equal_the_online_quantizer()
    {
        const int n = 130, k = 200;
        using var rig = new Rig(16);
        using var wb = rig.UploadRandom(3, new long[] { n, k }, out var w, out var wT);
        using var online = BlockWiseFp8LinearMethod.Quantize(rig.Ctx, wT);
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k);
        var q = new byte[np * kp];
        var s = new float[np / 128 * (kp / 128)];
        Fp8Quant.HostQuantizeWeights(w, n, k, q, s);
        var unpadded = new byte[n * k];
        for (int r = 0; r < n; r++) Array.Copy(q, r * kp, unpadded, r * k, k);
        using var loaded = BlockWiseFp8LinearMethod.FromPrequantized(rig.Ctx, unpadded, s, n, k, DType.BF16);
        Assert.Equal(online.DequantizedWeights(), loaded.DequantizedWeights());
        Assert.Equal(online.WeightBytes, loaded.WeightBytes);
        Assert.Equal(QuantMode.BlockWiseFp8, loaded.Mode);
    }

    [Fact]
    public void Block_fp8_forward_rejects_bad_shapes_and_row_counts()
    {
        using var rig = new Rig(8);
        using var wb = rig.UploadRandom(1, new long[] { 64, 32 }, out _, out var wT);
        using var b = BlockWiseFp8LinearMethod.Quantize(rig.Ctx, wT);
        using var x = rig.Pool.RentTensor(DType.BF16, new long[] { 16, 32 }, out var xT);
        using var y = rig.Pool.RentTensor(DType.BF16, new long[] { 16, 64 }, out var yT);
        var s = rig.Device.DefaultStream;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => b.Forward(s, xT, yT, 9, rig.Ctx.TokenCount));
        Assert.Contains("9", e.Message);
        Assert.Contains("8", e.Message);
        Assert.Throws<ArgumentException>(() => b.Forward(s, xT.Reshape(32, 16), yT, 4, rig.Ctx.TokenCount));
        Assert.Throws<ArgumentException>(() => BlockWiseFp8LinearMethod.FromPrequantized(rig.Ctx, new byte[10], new float[1], 64, 32, DType.BF16));
        var bad = Assert.Throws<ArgumentException>(() => BlockWiseFp8LinearMethod.FromPrequantized(rig.Ctx, new byte[64 * 32], new[] { float.NaN }, 64, 32, DType.BF16));
        Assert.Contains("NaN", bad.Message);
    }

    [Fact]
    public void W4afp8_prequantized_values_equal_the_online_quantizer()
    {
        const int e = 2, n = 40, k = 300;
        using var rig = new Rig(16);
        using var wb = rig.UploadRandom(5, new long[] { e, n, k }, out var w, out var wT);
        foreach (var group in new[] { GroupSize.Of(128), GroupSize.PerChannel })
        {
            using var online = W4AFp8MoeMethod.Quantize(rig.Ctx, wT, 16, group);
            int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = W4AFp8GroupGemm.ScaleGroups(kp, !group.IsPerChannel);
            var values = new sbyte[e * n * k];
            var scales = new float[e * groups * n];
            for (int x = 0; x < e; x++)
            {
                var q = new byte[np * kp / 2];
                var s = new float[groups * np];
                W4AFp8GroupGemm.HostQuantize(w.AsSpan(x * n * k, n * k), n, k, !group.IsPerChannel, q, s);
                for (int r = 0; r < n; r++)
                {
                    for (int c = 0; c < k; c++) values[(x * n + r) * k + c] = (sbyte)W4AFp8GroupGemm.ValueAt(q, kp, r, c);
                    for (int g = 0; g < groups; g++) scales[(x * groups + g) * n + r] = s[g * np + r] / W4AFp8GroupGemm.NibbleFactor;
                }
            }
            using var loaded = W4AFp8MoeMethod.FromPrequantized(rig.Ctx, values, scales, e, n, k, group, DType.BF16, 16);
            AssertSameExperts(online, loaded);
            Assert.Equal(!group.IsPerChannel ? "w4afp8/g128" : "w4afp8/channel", loaded.Label);
        }
    }

    [Fact]
    public void W4afp8_rejects_out_of_range_values_group_sizes_and_oversized_problems()
    {
        using var rig = new Rig(16);
        var values = new sbyte[8 * 16];
        values[5] = 8;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() =>
            W4AFp8MoeMethod.FromPrequantized(rig.Ctx, values, new float[8], 1, 8, 16, GroupSize.Of(128), DType.BF16, 16));
        Assert.Contains("[0, 0, 5]", ex.Message);
        using var wb = rig.UploadRandom(1, new long[] { 2, 8, 16 }, out _, out var wT);
        Assert.Throws<ArgumentOutOfRangeException>(() => W4AFp8MoeMethod.Quantize(rig.Ctx, wT, 16, GroupSize.Of(64)));
        using var b = W4AFp8MoeMethod.Quantize(rig.Ctx, wT, maxRows: 10);
        using var a = rig.Pool.RentTensor(DType.BF16, new long[] { 2, 6, 16 }, out var aT);
        using var c = rig.Pool.RentTensor(DType.BF16, new long[] { 2, 6, 8 }, out var cT);
        using var o = rig.Pool.RentTensor(DType.I32, new long[] { 2 }, out var oT);
        var big = Assert.Throws<ArgumentOutOfRangeException>(() =>
            b.Forward(rig.Device.DefaultStream, new GroupGemmProblem(TokenLayout.Padded, 2, 8, 16, 6, aT, oT, cT)));
        Assert.Contains("12", big.Message);
        Assert.Contains("10", big.Message);
    }

    [Fact]
    public void Nvfp4_prequantized_modelopt_tensors_equal_the_online_quantizer()
    {
        const int e = 2, n = 24, k = 96;
        using var rig = new Rig(16);
        using var wb = rig.UploadRandom(7, new long[] { e, n, k }, out var w, out var wT);
        using var online = Nvfp4MoeMethod.Quantize(rig.Ctx, wT);
        // Rebuild ModelOpt's natural layout: weight [E, N, K/2] low nibble first, weight_scale [E, N, K/16].
        int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k);
        var packed = new byte[e * n * k / 2];
        var scales = new byte[e * n * k / 16];
        var global = new float[e];
        for (int x = 0; x < e; x++)
        {
            var q = new byte[np * kp / 2];
            var s = new byte[np * kp / 16];
            global[x] = Nvfp4GroupGemm.HostQuantize(w.AsSpan(x * n * k, n * k), n, k, q, s);
            for (int r = 0; r < n; r++)
                for (int c = 0; c < k; c++)
                {
                    var (pos, hi) = Nvfp4GroupGemm.Position(c);
                    int code = (q[r * (kp / 2) + pos] >> (4 * hi)) & 0xF;
                    int idx = (x * n + r) * k + c;
                    packed[idx / 2] |= (byte)(code << (4 * (c & 1)));
                    if (c % 16 == 0) scales[idx / 16] = s[Nvfp4GroupGemm.ScaleIndex(np, r, c)];
                }
        }
        using var loaded = Nvfp4MoeMethod.FromPrequantized(rig.Ctx, packed, scales, global, e, n, k, DType.BF16);
        AssertSameExperts(online, loaded);
        var bad = Assert.Throws<QuantConfigException>(() =>
            Nvfp4MoeMethod.FromPrequantized(rig.Ctx, packed, scales, global, e, n, k, DType.BF16, "native"));
        Assert.Contains("'native'", bad.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Nvfp4MoeMethod.FromPrequantized(rig.Ctx, packed, scales, global, e, n, 100, DType.BF16));
    }
    /// <summary>The expert methods whose kernels have no fused epilogue refuse a SwiGLU problem by name, before any launch.</summary>
    [Theory]
    [InlineData(QuantMode.W4AFp8)]
    [InlineData(QuantMode.Nvfp4)]
    [InlineData(QuantMode.Wi4A16)]
    public void Methods_without_a_fused_epilogue_refuse_the_swiglu_problem(QuantMode mode)
    {
        const int e = 2, n = 256, k = 128, rows = 8;
        using var rig = new Rig(rows);
        using var w = rig.UploadRandom(5, new long[] { e, n, k }, out _, out var wT);
        using var method = MoeMethods.Create(mode, rig.Device, rig.Device.DefaultStream, wT, GroupSize.PerChannel, TokenLayout.PrefixSum, rows, rig.Ctx);
        using var ab = rig.Device.AllocateTensor(DType.BF16, new long[] { rows, k }, out var a);
        using var cb = rig.Device.AllocateTensor(DType.BF16, new long[] { rows, n / 2 }, out var c);
        using var ob = rig.Device.AllocateTensor(DType.I32, new long[] { e + 1 }, out var off);
        off.UploadInts(new[] { 0, 3, 8 });
        c.Poison(rig.Device.DefaultStream);
        var problem = new GroupGemmProblem(TokenLayout.PrefixSum, e, n, k, rows, a, off, c, GroupGemmEpilogue.SwiGlu);
        Assert.False(MoeMethods.FusesSwiGlu(mode));
        var ex = Assert.Throws<ArgumentException>(() => method.Forward(rig.Device.DefaultStream, problem));
        Assert.Contains("SwiGlu", ex.Message);
        Assert.True(c.DownloadFloats().All(float.IsNaN));   // nothing ran
    }
}
