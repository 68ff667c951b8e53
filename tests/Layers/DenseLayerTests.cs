using GraphEngine.Conformance;
using GraphEngine.Kernels.Norm;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Tests.Layers;

public class DenseLayerTests
{
    /// <summary>
    /// A reference device, a dense rig on it and the activations rented from the rig's pool; disposed
    /// activations first (newest first), then the rig, then the device.
    /// </summary>
    private sealed class Setup : IDisposable
    {
        private readonly List<PoolBlock> _blocks = new();
        private readonly int _maxTokens;

        public Setup(int maxTokens)
        {
            _maxTokens = maxTokens;
            Device = new ReferenceDevice();
            Rig = new DenseCases.Rig(Device, maxTokens);
        }

        public ReferenceDevice Device { get; }
        public DenseCases.Rig Rig { get; }

        public Tensor Activation(DType dtype, int rows, int cols, string tag)
        {
            _blocks.Add(Rig.Activation(dtype, rows, cols, out var t, tag));
            return t;
        }

        /// <summary>A layer's BF16 input "x" [maxTokens, inWidth] and output "o" [maxTokens, outWidth].</summary>
        public (Tensor X, Tensor O) InOut(int inWidth, int outWidth) =>
            (Activation(DType.BF16, _maxTokens, inWidth, "x"), Activation(DType.BF16, _maxTokens, outWidth, "o"));

        public void Dispose()
        {
            for (int i = _blocks.Count - 1; i >= 0; i--) _blocks[i].Dispose();
            Rig.Dispose();
            Device.Dispose();
        }
    }

    [Theory]
    [InlineData(QuantMode.None, "per-channel")]
    [InlineData(QuantMode.WInt8, "per-channel")]
    [InlineData(QuantMode.WInt4, "g128")]
    public void Padded_rows_holding_nan_do_not_change_valid_rows(QuantMode mode, string group)
    {
        using var setup = new Setup(16);
        var rig = setup.Rig;
        const int k = 256, n = 40, tokens = 5;
        var (x, o) = setup.InOut(k, n);
        using var layer = Linear.Create(rig.Context, "p", x, o, mode, GroupSize.Parse(group), LinearWeights.Random(n, k, 1, 0.2f));
        var xv = DenseCases.Activations(16, tokens, k, 1, DType.BF16);     // NaN past the valid rows
        rig.SetTokens(tokens);
        x.UploadFloats(xv);
        layer.Forward(rig.Stream, 16);
        var withNan = o.DownloadFloats().AsSpan(0, tokens * n).ToArray();
        for (int i = tokens * k; i < xv.Length; i++) xv[i] = 1e4f;
        x.UploadFloats(xv);
        layer.Forward(rig.Stream, 16);
        var withLarge = o.DownloadFloats().AsSpan(0, tokens * n).ToArray();
        Assert.Equal(0, ErrorMetrics.BitMismatches(withNan, withLarge));
        Assert.Equal(-1, ErrorMetrics.FirstNonFinite(withNan));
    }

    [Theory]
    [InlineData(QuantMode.WInt4, "g96", 192, "96")]         // wint4 groups are 64 or 128
    [InlineData(QuantMode.WInt4, "g128", 770, "K=770")]     // K not a multiple of the group
    [InlineData(QuantMode.WInt8, "g64", 128, "64")]         // wint8 has one scale per channel
    public void Bad_group_sizes_are_rejected_naming_the_value_and_the_layer_without_leaking(QuantMode mode, string group, int k, string mentions)
    {
        using var setup = new Setup(8);
        var size = GroupSize.Parse(group);
        long before = setup.Device.AllocatedBytes;
        var e = Assert.Throws<ArgumentException>(() =>
            LinearMethods.Create(setup.Rig.Context, DType.BF16, mode, size, LinearWeights.Random(16, k, 1, 1f), "up"));
        Assert.Contains(mentions, e.Message);
        Assert.Contains(size.Size.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
        Assert.Contains("up", e.Message);
        Assert.Equal(before, setup.Device.AllocatedBytes);
    }

    [Theory]
    [InlineData(QuantMode.W4AFp8, "w4afp8")]
    [InlineData(QuantMode.Wi4A16, "wi4a16")]
    [InlineData(QuantMode.Nvfp4, "nvfp4")]
    public void Moe_only_modes_are_refused_naming_the_mode_and_the_dense_modes(QuantMode mode, string label)
    {
        using var setup = new Setup(8);
        var rig = setup.Rig;
        var e = Assert.Throws<ArgumentException>(() => LinearMethods.Create(rig.Context, DType.BF16, mode, GroupSize.PerChannel, LinearWeights.Random(16, 64, 1, 1f)));
        Assert.Contains(label, e.Message);
        Assert.Contains("wint4", e.Message);
    }

    [Fact]
    public void Block_wise_fp8_comes_from_the_factory_and_refuses_offline_int_weights()
    {
        using var setup = new Setup(8);
        var rig = setup.Rig;
        using (var method = LinearMethods.Create(rig.Context, DType.BF16, QuantMode.BlockWiseFp8, GroupSize.PerChannel, LinearWeights.Random(16, 64, 1, 1f)))
        {
            Assert.Equal(QuantMode.BlockWiseFp8, method.Mode);
            Assert.Equal(16, method.OutFeatures);
            Assert.Equal(64, method.InFeatures);
        }
        var offline = LinearWeights.Offline(QuantizedWeights.Quantize(WeightOnlyScheme.Int8PerChannel, 16, 64,
            Enumerable.Range(0, 16 * 64).Select(i => MathF.Sin(i)).ToArray()));
        var e = Assert.Throws<ArgumentException>(() => LinearMethods.Create(rig.Context, DType.BF16, QuantMode.BlockWiseFp8, GroupSize.PerChannel, offline));
        Assert.Contains("FromPrequantized", e.Message);
        var g = Assert.Throws<ArgumentException>(() => LinearMethods.Create(rig.Context, DType.BF16, QuantMode.BlockWiseFp8, GroupSize.Of(128), LinearWeights.Random(16, 64, 1, 1f)));
        Assert.Contains("128", g.Message);
    }

    [Fact]
    public void Linear_rejects_wrong_dtype_and_shapes_without_leaking()
    {
        using var setup = new Setup(8);
        var rig = setup.Rig;
        var (x, o) = setup.InOut(64, 32);
        var of16 = setup.Activation(DType.F16, 8, 32, "o16");
        long before = setup.Device.AllocatedBytes;
        var method = LinearMethods.Create(rig.Context, DType.BF16, QuantMode.WInt8, GroupSize.PerChannel, LinearWeights.Random(32, 48, 1, 1f));
        var e = Assert.Throws<ArgumentException>(() => new Linear(rig.Context, "q", x, o, method));
        Assert.Contains("48", e.Message);
        Assert.Equal(before, setup.Device.AllocatedBytes);    // the refused method was disposed

        method = LinearMethods.Create(rig.Context, DType.BF16, QuantMode.WInt8, GroupSize.PerChannel, LinearWeights.Random(32, 64, 1, 1f));
        e = Assert.Throws<ArgumentException>(() => new Linear(rig.Context, "q", x, of16, method));
        Assert.Contains("F16", e.Message);

        e = Assert.Throws<ArgumentException>(() => LinearMethods.Create(rig.Context, DType.F32, QuantMode.None, GroupSize.PerChannel, LinearWeights.Random(32, 64, 1, 1f)));
        Assert.Contains("F32", e.Message);
        Assert.Equal(before, setup.Device.AllocatedBytes);
    }

    [Fact]
    public void Offline_weights_out_of_range_or_mismatched_are_rejected()
    {
        var scheme = WeightOnlyScheme.Int4Group(64);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedWeights.FromValues(scheme, 1, 64, Enumerable.Repeat((sbyte)9, 64).ToArray(), new[] { 1f }));
        Assert.Contains("[-8, 7]", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => QuantizedWeights.FromValues(scheme, 1, 64, new sbyte[64], new[] { 1f, 2f }));
        Assert.Contains("2 scales", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => QuantizedWeights.FromPackedInt4(GroupSize.Of(128), 2, 129, new byte[129], new float[2]));
        Assert.Contains("K=129", e3.Message);

        using var setup = new Setup(8);
        var rig = setup.Rig;
        var q = QuantizedWeights.FromValues(scheme, 2, 128, new sbyte[256], new[] { 1f, 1f, 1f, 1f });
        var e4 = Assert.Throws<ArgumentException>(() => LinearMethods.Create(rig.Context, DType.BF16, QuantMode.WInt4, GroupSize.Of(128), LinearWeights.Offline(q)));
        Assert.Contains("wint4/g64", e4.Message);
    }

    [Fact]
    public void RmsNorm_rejects_bad_hidden_dtype_and_epsilon()
    {
        using var setup = new Setup(8);
        var rig = setup.Rig;
        var (x, o) = setup.InOut(64, 64);
        var e = Assert.Throws<ArgumentException>(() => new RmsNorm(rig.Context, "n", 65, DType.BF16, 1e-6f, x, o));
        Assert.Contains("65", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => new RmsNorm(rig.Context, "n", 64, DType.F16, 1e-6f, x, o));
        Assert.Contains("F16", e2.Message);
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => new RmsNorm(rig.Context, "n", 64, DType.BF16, 0f, x, o));
        Assert.Contains("epsilon", e3.Message);
        Assert.Equal(2 * 8 * 64 * 2, rig.Pool.InUseBytes);   // only x and o: no weight left rented by a refused layer
    }

    [Fact]
    public void RmsNorm_forward_past_max_tokens_names_the_value()
    {
        using var setup = new Setup(8);
        var rig = setup.Rig;
        var (x, o) = setup.InOut(64, 64);
        using var norm = new RmsNorm(rig.Context, "n", 64, DType.BF16, 1e-6f, x, o);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => norm.Forward(rig.Stream, 9));
        Assert.Contains("9", e.Message);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(769)]
    [InlineData(2560)]
    [InlineData(5125)]
    [InlineData(7168)]
    [InlineData(65536)]
    public void RmsNorm_launch_config_covers_the_row_with_legal_blocks(int hidden)
    {
        var (vec, items, threads) = RmsNormKernelCuda.Config(hidden);
        Assert.Equal(0, hidden % vec);
        Assert.InRange(threads, 32, 1024);
        Assert.Equal(0, threads % 32);
        Assert.True((long)vec * items * threads >= hidden, $"vec {vec} x items {items} x threads {threads} < {hidden}");
        if (hidden % 8 == 0) Assert.Equal(8, vec);   // 16-byte loads whenever the row allows
    }
}
