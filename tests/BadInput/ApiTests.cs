using GraphEngine.Graph;
using GraphEngine.Layers.Quantization;
using GraphEngine.Models;

namespace GraphEngine.Tests.BadInput;

/// <summary>Bad arguments to the public API: the specific typed exception, naming the parameter, nothing left allocated.</summary>
public class ApiTests
{
    private static BlockWiseGraphOptions Eager => new() { Enabled = false };

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(int.MaxValue)]
    [InlineData(PrefillEngine.MaxTokensLimit + 1)]
    public void Engine_max_tokens_out_of_range(int maxTokens)
    {
        using var device = Device.Open(BackendPreference.Reference);
        long before = device.AllocatedBytes;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new PrefillEngine(device, Eager, maxTokens));
        Assert.Equal("maxTokens", e.ParamName);
        Assert.Contains(PrefillEngine.MaxTokensLimit.ToString(), e.Message);
        Assert.Equal(before, device.AllocatedBytes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(int.MaxValue)]
    public void BindOptions_max_tokens_out_of_range(int maxTokens)
    {
        var config = EngineConfiguration.Build(null, Array.Empty<string>(), new Dictionary<string, string?>());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => EngineConfiguration.BindOptions(config, maxTokens));
        Assert.Equal("maxTokens", e.ParamName);
    }

    [Theory]
    [InlineData(new[] { 0 })]
    [InlineData(new[] { -3 })]
    [InlineData(new[] { 1, 65 })]
    [InlineData(new[] { int.MaxValue })]
    public void Engine_sizes_outside_max_tokens(int[] sizes)
    {
        using var device = Device.Open(BackendPreference.Reference);
        long before = device.AllocatedBytes;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = sizes }, 64));
        Assert.Equal("options", e.ParamName);
        Assert.Equal(before, device.AllocatedBytes);
    }

    [Fact]
    public void Null_exclude_entry_is_an_argument_exception_not_a_null_reference()
    {
        var e = Assert.Throws<ArgumentException>(() => new BlockWiseGraphOptions { Exclude = new string[] { "a", null! } });
        Assert.Equal("Exclude", e.ParamName);
        Assert.Contains("Exclude[1]", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Empty_exclude_entry_is_refused(string pattern)
    {
        var e = Assert.Throws<ArgumentException>(() => new BlockWiseGraphOptions { Exclude = new[] { pattern } });
        Assert.Equal("Exclude", e.ParamName);
    }

    [Fact]
    public void Null_exclude_and_null_sizes_are_refused()
    {
        Assert.Equal("Exclude", Assert.Throws<ArgumentNullException>(() => new BlockWiseGraphOptions { Exclude = null! }).ParamName);
        Assert.Equal("Sizes", Assert.Throws<ArgumentNullException>(() => new BlockWiseGraphOptions { Sizes = null! }).ParamName);
    }

    [Theory]
    [InlineData(-1, 4, "outFeatures")]
    [InlineData(4, -1, "inFeatures")]
    [InlineData(0, 4, "outFeatures")]
    [InlineData(4, 0, "inFeatures")]
    [InlineData(int.MinValue, int.MinValue, "outFeatures")]
    public void Host_weights_with_bad_dimensions(int outFeatures, int inFeatures, string param)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LinearWeights.FromHost(outFeatures, inFeatures, new float[1]));
        Assert.Equal(param, e.ParamName);
        Assert.Equal(param, Assert.Throws<ArgumentOutOfRangeException>(() => LinearWeights.Random(outFeatures, inFeatures, 1, 1f)).ParamName);
    }

    [Theory]
    [InlineData("wint3")]
    [InlineData("{\"quantization\":\"mix_quant\",\"moe_quant_type\":\"wint4\"}")]
    [InlineData("{\"quantization\":\"wint4\",\"quantization\":\"wint4\"}")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":7}")]
    public void Quant_parse_throws_the_typed_exception_naming_the_source(string text)
    {
        var e = Assert.Throws<QuantConfigException>(() => QuantConfig.Parse(text, "the test's source"));
        Assert.Contains("the test's source", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("2147483648", "out of range")]
    [InlineData("-1", "out of range")]
    [InlineData("x", "not a whole number")]
    [InlineData("", "not a whole number")]
    [InlineData("1e3", "not a whole number")]
    public void Int_parser_says_out_of_range_with_the_range(string text, string says)
    {
        var e = Assert.Throws<EngineConfigurationException>(() => SettingParsers.ParseInt(text, "--n", "the switch --n", 0, 100));
        Assert.Contains(says, e.Message);
        Assert.Contains("the switch --n", e.Message);
        if (says == "out of range") Assert.Contains("[0, 100]", e.Message);
    }

    [Theory]
    [InlineData("yes", false)]
    [InlineData("on", false)]
    [InlineData("true", true)]
    [InlineData("2", false)]
    public void Bool_parser_is_strict(string text, bool zeroOrOne)
    {
        var e = Assert.Throws<EngineConfigurationException>(() => SettingParsers.ParseBool(text, "Debug", "variable X", zeroOrOne));
        Assert.Contains($"'{text}'", e.Message);
        Assert.Contains("variable X", e.Message);
    }

    [Theory]
    [InlineData(QuantMode.W4AFp8)]
    [InlineData(QuantMode.Nvfp4)]
    [InlineData(QuantMode.Wi4A16)]
    public void A_failed_build_leaves_engine_and_pool_as_they_were(QuantMode denseMode)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        long inUse = engine.Pool.InUseBytes, allocated = device.AllocatedBytes;
        // A dense mode no Linear accepts: the build fails after activations and layers exist.
        var quant = new QuantConfig(denseMode, QuantMode.None, null, null, QuantConfig.DefaultNvfp4Backend);
        Assert.ThrowsAny<ArgumentException>(() => ModelFactory.Build(engine, ModelPresets.Tiny, quant));
        Assert.Equal(inUse, engine.Pool.InUseBytes);
        Assert.Empty(engine.Layers);
        Assert.Equal(0, engine.ActivationBytes);
        // The engine is still usable: a good build succeeds on it.
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        engine.Prefill(3);
        Assert.NotEmpty(model.Layers);
        engine.Dispose();
        Assert.True(device.AllocatedBytes <= allocated, $"{device.AllocatedBytes} bytes left allocated, {allocated} before");
    }
}
