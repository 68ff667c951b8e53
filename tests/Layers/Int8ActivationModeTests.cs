using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Tests.Layers;

/// <summary>w8a8 and w4a8 in the quantization setting, the device check, and the MoE refusal.</summary>
public class Int8ActivationModeTests
{
    private const string Src = "test";

    private static DeviceInfo Gpu(int major, int minor) =>
        new(BackendKind.Cuda, "Test GPU", major, minor, 100, 80L << 30, 50 << 20, "test");

    [Theory]
    [InlineData("w8a8", QuantMode.W8A8, "w8a8", false)]
    [InlineData("W4A8", QuantMode.W4A8, "w4a8", true)]
    [InlineData("{\"quantization\":\"w4a8\",\"group_size\":-1}", QuantMode.W4A8, "w4a8/channel", false)]
    [InlineData("{\"quantization\":\"w8a8\",\"group_size\":-1}", QuantMode.W8A8, "w8a8/channel", false)]
    public void Plain_modes_apply_to_dense_and_moe_layers(string text, QuantMode mode, string label, bool grouped)
    {
        var c = QuantConfig.Parse(text, Src, modelHasMoe: false);
        Assert.Equal(mode, c.DenseMode);
        Assert.Equal(mode, c.MoeMode);
        Assert.Equal(label, c.Label);
        Assert.Equal(grouped ? GroupSize.Of(128) : GroupSize.PerChannel, c.DenseLayerGroupSize);
        Assert.Equal(grouped ? GroupSize.Of(128) : GroupSize.PerChannel, c.MoeLayerGroupSize);
    }

    [Fact]
    public void Mix_quant_takes_them_as_dense_and_moe_types()
    {
        var c = QuantConfig.Parse("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"w8a8\",\"moe_quant_type\":\"w4a8\"}", Src);
        Assert.Equal(QuantMode.W8A8, c.DenseMode);
        Assert.Equal(QuantMode.W4A8, c.MoeMode);
        Assert.Equal("mix_quant(dense=w8a8, moe=w4a8)", c.Label);
        Assert.Contains(QuantMode.W8A8, QuantConfig.DenseModes);
        Assert.Contains(QuantMode.W4A8, QuantConfig.MoeModes);
        Assert.Equal(QuantMode.W4A8, QuantModes.Parse("w4a8", Src));
    }

    [Fact]
    public void W8a8_refuses_groups_naming_the_value()
    {
        var e = Assert.Throws<QuantConfigException>(() => QuantConfig.Parse("{\"quantization\":\"w8a8\",\"group_size\":128}", Src));
        Assert.Contains("group_size 128", e.Message);
        Assert.Contains("w8a8", e.Message);
        Assert.Contains(Src, e.Message);
        var g = Assert.Throws<QuantConfigException>(() => QuantConfig.Parse("{\"quantization\":\"w4a8\",\"group_size\":64}", Src));
        Assert.Contains("group_size 64", g.Message);
    }

    [Fact]
    public void They_need_int8_mma_and_the_message_names_the_layer()
    {
        QuantConfig.EnsureSupported(QuantMode.W8A8, Gpu(8, 0));
        QuantConfig.EnsureSupported(QuantMode.W4A8, Gpu(9, 0));
        var e = Assert.Throws<QuantConfigException>(() => QuantConfig.EnsureSupported(QuantMode.W4A8, Gpu(7, 5), "layers.0.mlp.down"));
        Assert.StartsWith("layer 'layers.0.mlp.down': ", e.Message);
        Assert.Contains("'w4a8'", e.Message);
        Assert.Contains("8.0", e.Message);
        Assert.Contains("sm_75", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Moe_experts_get_the_int8_activation_group_gemm()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var stream = device.CreateStream();
        using var pool = new DevicePool(device, initialBytes: 0, chunkBytes: 1 << 20);
        using var count = pool.Rent(sizeof(int), "token count");
        var ctx = new LayerContext(device, pool, 8, count.Ptr);
        using var buffer = device.AllocateTensor(DType.BF16, new long[] { 2, 16, 128 }, out var w, "experts");
        foreach (var (mode, group, label) in new[] { (QuantMode.W8A8, GroupSize.PerChannel, "w8a8"), (QuantMode.W4A8, GroupSize.Of(128), "w4a8/g128") })
        {
            using var method = MoeMethods.Create(mode, device, stream, w, group, GraphEngine.Kernels.Moe.TokenLayout.Padded, 8, ctx);
            Assert.IsType<Int8ActMoeMethod>(method);
            Assert.Equal(label, method.Label);
            Assert.Equal(2 * 8, ((Int8ActMoeMethod)method).MaxRows);   // padded: E slabs of P rows
        }
        var e = Assert.ThrowsAny<ArgumentException>(() => MoeMethods.Create(QuantMode.W4A8, device, stream, w, GroupSize.Of(64), GraphEngine.Kernels.Moe.TokenLayout.Padded, 8, ctx));
        Assert.Contains("64", e.Message);
    }
}
