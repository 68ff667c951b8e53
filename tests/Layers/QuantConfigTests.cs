using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Layers;

public class QuantConfigTests
{
    private const string Src = "test";

    [Theory]
    [InlineData("wint4", QuantMode.WInt4, QuantMode.WInt4)]
    [InlineData(" WINT8 ", QuantMode.WInt8, QuantMode.WInt8)]
    [InlineData("block_wise_fp8", QuantMode.BlockWiseFp8, QuantMode.None)]
    [InlineData("w4afp8", QuantMode.None, QuantMode.W4AFp8)]
    [InlineData("wi4a16", QuantMode.None, QuantMode.Wi4A16)]
    [InlineData("nvfp4", QuantMode.None, QuantMode.Nvfp4)]
    [InlineData("modelopt_fp4", QuantMode.None, QuantMode.Nvfp4)]
    [InlineData("none", QuantMode.None, QuantMode.None)]
    [InlineData("bf16", QuantMode.None, QuantMode.None)]
    [InlineData("", QuantMode.None, QuantMode.None)]
    [InlineData("{\"quantization\":\"wint4\"}", QuantMode.WInt4, QuantMode.WInt4)]
    public void Plain_modes_resolve_per_layer_kind(string text, QuantMode dense, QuantMode moe)
    {
        var c = QuantConfig.Parse(text, Src);
        Assert.Equal(dense, c.DenseMode);
        Assert.Equal(moe, c.MoeMode);
    }

    [Theory]
    [InlineData("modelopt_fp4", QuantMode.Nvfp4, "mix_quant(dense=block_wise_fp8, moe=nvfp4)")]
    [InlineData("w4afp8", QuantMode.W4AFp8, "mix_quant(dense=block_wise_fp8, moe=w4afp8)")]
    [InlineData("wint4", QuantMode.WInt4, "mix_quant(dense=block_wise_fp8, moe=wint4)")]
    [InlineData("wint8", QuantMode.WInt8, "mix_quant(dense=block_wise_fp8, moe=wint8)")]
    [InlineData("wi4a16", QuantMode.Wi4A16, "mix_quant(dense=block_wise_fp8, moe=wi4a16)")]
    public void Mix_quant_json_gives_dense_and_moe_types(string moeType, QuantMode moe, string label)
    {
        var c = QuantConfig.Parse(
            $"{{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"block_wise_fp8\",\"is_moe_quantized\":true,\"moe_quant_type\":\"{moeType}\"}}", Src);
        Assert.Equal(QuantMode.BlockWiseFp8, c.DenseMode);
        Assert.Equal(moe, c.MoeMode);
        Assert.Equal(label, c.Label);
    }

    [Fact]
    public void Moe_not_quantized_leaves_moe_unquantized_and_group_size_shows_in_the_label()
    {
        var c = QuantConfig.Parse("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint4\",\"is_moe_quantized\":false,\"moe_quant_type\":\"w4afp8\",\"group_size\":128}", Src);
        Assert.Equal(QuantMode.WInt4, c.DenseMode);
        Assert.Equal(QuantMode.None, c.MoeMode);
        Assert.Equal(GroupSize.Of(128), c.DenseGroupSize);
        Assert.Equal("mix_quant(dense=wint4/g128, moe=none)", c.Label);
        Assert.Equal("wint4/channel", QuantConfig.Parse("{\"quantization\":\"wint4\",\"group_size\":-1}", Src).Label);
    }

    [Theory]
    // unknown names: the value and the accepted list
    [InlineData("int3", "'int3'", "wint4")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"fp6\",\"moe_quant_type\":\"wint4\"}", "'fp6'", "block_wise_fp8")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"none\",\"moe_quant_type\":\"int2\"}", "'int2'", "w4afp8")]
    // a MoE-only type as the dense type
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"w4afp8\",\"moe_quant_type\":\"wint4\"}", "'w4afp8'", "MoE-only")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"modelopt_fp4\",\"moe_quant_type\":\"wint4\"}", "'modelopt_fp4'", "block_wise_fp8")]
    // a dense-only type as the MoE type
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"none\",\"moe_quant_type\":\"block_wise_fp8\"}", "'block_wise_fp8'", "w4afp8")]
    // malformed or mistyped JSON
    [InlineData("{\"quantization\":", "not valid JSON", "{\"quantization\":")]
    [InlineData("[1, 2]", "JSON object", "[1, 2]")]
    [InlineData("{\"quantisation\":\"wint4\"}", "'quantisation'", "dense_quant_type")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"none\",\"is_moe_quantized\":\"yes\",\"moe_quant_type\":\"wint4\"}", "is_moe_quantized", "\"yes\"")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint4\"}", "moe_quant_type", "w4afp8")]
    [InlineData("{\"quantization\":\"wint4\",\"moe_quant_type\":\"w4afp8\"}", "'moe_quant_type'", "mix_quant")]
    [InlineData("{\"quantization\":7}", "'quantization'", "7")]
    [InlineData("mix_quant", "'mix_quant'", "dense_quant_type")]
    // group sizes
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":64}", "group_size 64", "128")]
    [InlineData("{\"quantization\":\"nvfp4\",\"group_size\":128}", "group_size 128", "16")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":\"big\"}", "group_size", "\"big\"")]
    // native fp4 methods are refused by name
    [InlineData("{\"quantization\":\"nvfp4\",\"nvfp4_backend\":\"flashinfer-cutlass\"}", "'flashinfer-cutlass'", "dequant")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"block_wise_fp8\",\"moe_quant_type\":\"modelopt_fp4\",\"nvfp4_backend\":\"native\"}", "'native'", "dequant")]
    [InlineData("{\"quantization\":\"nvfp4\",\"nvfp4_backend\":\"turbo\"}", "'turbo'", "dequant")]
    public void Bad_settings_name_the_value_and_what_is_accepted(string text, string mentions, string alsoMentions)
    {
        var e = Assert.Throws<QuantConfigException>(() => QuantConfig.Parse(text, "FD_QUANT"));
        Assert.Contains(mentions, e.Message);
        Assert.Contains(alsoMentions, e.Message);
        Assert.Contains("FD_QUANT", e.Message);
    }

    [Theory]
    [InlineData("w4afp8")]
    [InlineData("wi4a16")]
    [InlineData("modelopt_fp4")]
    public void A_moe_only_plain_mode_on_a_model_without_moe_is_an_error(string mode)
    {
        var e = Assert.Throws<QuantConfigException>(() => QuantConfig.Parse(mode, Src, modelHasMoe: false));
        Assert.Contains("MoE-only", e.Message);
        Assert.Contains("block_wise_fp8", e.Message);
        // With MoE layers it quantizes them and leaves dense layers unquantized.
        Assert.Equal(QuantMode.None, QuantConfig.Parse(mode, Src, modelHasMoe: true).DenseMode);
    }

    private static DeviceInfo Gpu(int major, int minor) =>
        new(BackendKind.Cuda, "Test GPU", major, minor, 100, 80L << 30, 50 << 20, "test");

    [Fact]
    public void Fp8_modes_need_compute_capability_8_9()
    {
        var mix = QuantConfig.Parse("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"block_wise_fp8\",\"moe_quant_type\":\"w4afp8\"}", Src);
        mix.EnsureSupported(Gpu(9, 0));
        mix.EnsureSupported(Gpu(8, 9));
        var e = Assert.Throws<QuantConfigException>(() => mix.EnsureSupported(Gpu(8, 0)));
        Assert.Contains("block_wise_fp8", e.Message);
        Assert.Contains("8.9", e.Message);
        Assert.Contains("sm_80", e.Message);
        Assert.Contains("wint4", e.Message);               // lists what the GPU can run
        Assert.Throws<QuantConfigException>(() => QuantConfig.Parse("w4afp8", Src).EnsureSupported(Gpu(8, 6)));
        QuantConfig.Parse("nvfp4", Src).EnsureSupported(Gpu(8, 0));
        QuantConfig.Parse("nvfp4", Src).EnsureSupported(Gpu(10, 0));   // the dequant path runs on Blackwell too
        Assert.Throws<QuantConfigException>(() => QuantConfig.Parse("nvfp4", Src).EnsureSupported(Gpu(7, 5)));
        // The reference backend runs everything.
        mix.EnsureSupported(new DeviceInfo(BackendKind.Reference, "host", 0, 0, 2, 0, 0, "managed"));
    }
}
