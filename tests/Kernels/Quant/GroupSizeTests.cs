using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Quant;

public class GroupSizeTests
{
    [Fact]
    public void Per_channel_is_the_default_and_has_no_size()
    {
        Assert.Equal(GroupSize.PerChannel, default(GroupSize));
        Assert.True(GroupSize.PerChannel.IsPerChannel);
        Assert.False(GroupSize.Of(128).IsPerChannel);
        var e = Assert.Throws<InvalidOperationException>(() => GroupSize.PerChannel.Size);
        Assert.Contains("per-channel", e.Message);
        Assert.Equal(128, GroupSize.Of(128).Size);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Of_rejects_sizes_below_one_naming_the_value(int size)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GroupSize.Of(size));
        Assert.Equal("size", e.ParamName);
        Assert.Equal(size, e.ActualValue);
        Assert.Contains("PerChannel", e.Message);
    }

    [Fact]
    public void Equality_is_by_size()
    {
        Assert.Equal(GroupSize.Of(64), GroupSize.Of(64));
        Assert.NotEqual(GroupSize.Of(64), GroupSize.Of(128));
        Assert.NotEqual(GroupSize.PerChannel, GroupSize.Of(1));
        Assert.True(GroupSize.Of(128) == GroupSize.Of(128));
        Assert.Equal(GroupSize.Of(7).GetHashCode(), GroupSize.Of(7).GetHashCode());
    }

    [Theory]
    [InlineData("per-channel", 0)]
    [InlineData("g1", 1)]
    [InlineData("g64", 64)]
    [InlineData("g128", 128)]
    [InlineData("g2147483647", int.MaxValue)]
    public void Format_and_parse_round_trip(string text, int size)
    {
        var g = size == 0 ? GroupSize.PerChannel : GroupSize.Of(size);
        Assert.Equal(text, g.ToString());
        Assert.Equal(g, GroupSize.Parse(text));
        Assert.True(GroupSize.TryParse(text, out var parsed));
        Assert.Equal(g, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("g")]
    [InlineData("g0")]
    [InlineData("g-1")]
    [InlineData("g+8")]
    [InlineData("g 8")]
    [InlineData("G128")]
    [InlineData("128")]
    [InlineData("g128 ")]
    [InlineData("g2147483648")]
    [InlineData("per channel")]
    [InlineData("Per-Channel")]
    public void Parse_rejects_anything_else_quoting_it(string text)
    {
        Assert.False(GroupSize.TryParse(text, out var g));
        Assert.Equal(default, g);
        var e = Assert.Throws<FormatException>(() => GroupSize.Parse(text));
        Assert.Contains($"\"{text}\"", e.Message);
        Assert.False(GroupSize.TryParse(null, out _));
        Assert.Throws<ArgumentNullException>(() => GroupSize.Parse(null!));
    }

    [Theory]
    [InlineData(128, 256, true, 2)]
    [InlineData(128, 128, true, 1)]
    [InlineData(128, 192, false, 1)]
    [InlineData(64, 769, false, 12)]
    [InlineData(1, 7, true, 7)]
    public void Divides_and_groups_follow_k(int size, int k, bool divides, int groups)
    {
        Assert.Equal(divides, GroupSize.Of(size).Divides(k));
        Assert.Equal(groups, GroupSize.Of(size).Groups(k));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(769)]
    public void Per_channel_divides_every_k_in_one_group(int k)
    {
        Assert.True(GroupSize.PerChannel.Divides(k));
        Assert.Equal(1, GroupSize.PerChannel.Groups(k));
    }

    [Fact]
    public void Weight_only_scheme_labels_and_groups_come_from_the_group_size()
    {
        Assert.Equal("wint4/g128", WeightOnlyScheme.Int4Group(128).Label);
        Assert.Equal("wint4", WeightOnlyScheme.Int4PerChannel.Label);
        Assert.Equal(new WeightOnlyScheme(WeightOnlyFormat.Int8), WeightOnlyScheme.Int8PerChannel);
        Assert.Equal(5, WeightOnlyScheme.Int4Group(64).Groups(320));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightOnlyScheme.Int4Group(0));
    }

    [Theory]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":-1}", "per-channel", "per-channel")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":128}", "g128", "g128")]
    [InlineData("{\"quantization\":\"wint8\",\"group_size\":-1}", "per-channel", "per-channel")]
    [InlineData("{\"quantization\":\"wi4a16\",\"group_size\":128}", null, "g128")]
    [InlineData("{\"quantization\":\"nvfp4\",\"group_size\":16}", null, "g16")]
    [InlineData("wint4", null, null)]
    public void Quant_config_carries_the_group_it_was_given(string text, string? dense, string? moe)
    {
        var c = QuantConfig.Parse(text, "test");
        Assert.Equal(dense, c.DenseGroupSize?.ToString());
        Assert.Equal(moe, c.MoeGroupSize?.ToString());
    }

    [Theory]
    [InlineData("wint4", "g128", "g128")]                                            // wint4's default group
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":-1}", "per-channel", "per-channel")]
    [InlineData("wint8", "per-channel", "per-channel")]
    [InlineData("block_wise_fp8", "per-channel", "per-channel")]
    [InlineData("wi4a16", "per-channel", "g128")]
    [InlineData("{\"quantization\":\"w4afp8\",\"group_size\":128}", "per-channel", "g128")]   // the configured group reaches the layer
    [InlineData("w4afp8", "per-channel", "per-channel")]
    [InlineData("nvfp4", "per-channel", "per-channel")]
    public void Quant_config_resolves_what_the_layers_get(string text, string dense, string moe)
    {
        var c = QuantConfig.Parse(text, "test");
        Assert.Equal(dense, c.DenseLayerGroupSize.ToString());
        Assert.Equal(moe, c.MoeLayerGroupSize.ToString());
    }
}
