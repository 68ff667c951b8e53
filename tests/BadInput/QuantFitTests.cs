using GraphEngine.Tests.Cli;
using GraphEngine.Tests.Models.Checkpoints;
using GraphEngine.Tests.Models.Loading;

namespace GraphEngine.Tests.BadInput;

/// <summary>
/// A quantization the model's shapes cannot take (a group of 128 over a K of 48 or 192, wi4a16's 128-aligned widths) is
/// bad input found before the device opens: one line naming the --quant value, the layer and the shape, exit 2. Before,
/// `--quant wint4` on the default tiny preset failed half-way through the build as an ArgumentException with exit 1.
/// </summary>
public class QuantFitTests
{
    [Theory]
    [InlineData("wint4", "layers.1.mlp", "expert FFN = 192")]
    [InlineData("w4a8", "layers.1.mlp", "expert FFN = 192")]
    [InlineData("wi4a16", "layers.1.mlp", "wi4a16 uses groups of 128")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":128}", "layers.1.mlp", "group size 128")]
    [InlineData("{\"quantization\":\"mix_quant\",\"dense_quant_type\":\"wint8\",\"is_moe_quantized\":true,\"moe_quant_type\":\"wint4\"}", "layers.1.mlp", "group size 128")]
    public void A_quant_the_tiny_preset_cannot_take_is_refused_naming_layer_and_shape(string quant, string layer, string shape)
    {
        foreach (var command in new[] { "run", "list", "soak" })
        {
            var r = BadInputCli.Run(command, "--backend", "reference", "--quant", quant);
            CliHarness.AssertUsageError(r, "--quant", "does not fit model 'tiny'", layer, shape);
            Assert.StartsWith($"graphengine: error: quantization '{quant[..Math.Min(quant.Length, 20)]}", r.Err);
            Assert.Equal("", r.Out);
        }
    }

    [Fact]
    public void A_quant_that_does_not_fit_is_refused_before_the_device_opens()
    {
        var r = BadInputCli.Run("run", "--backend", "cuda", "--quant", "wint4");
        CliHarness.AssertUsageError(r, "'wint4'", "does not fit");
        Assert.DoesNotContain("GPU", r.Err);
    }

    [Fact]
    public void A_quant_a_checkpoint_cannot_take_names_the_projection()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.LlamaJson);
        foreach (var command in new[] { "list", "check" })
        {
            var r = BadInputCli.Run(command, "--backend", "reference", "--model", dir.Path, "--quant", "wint4", "--tokens", "1");
            CliHarness.AssertUsageError(r, "'wint4'", "--quant", "layers.0.self_attn.qkv_proj", "K=48");
        }
    }

    [Theory]
    [InlineData("wint8")]
    [InlineData("w8a8")]
    [InlineData("w4afp8")]
    [InlineData("nvfp4")]
    [InlineData("{\"quantization\":\"wint4\",\"group_size\":-1}")]
    public void Quants_that_fit_still_run(string quant)
    {
        var r = BadInputCli.Run("list", "--backend", "reference", "--sizes", "4", "--quant", quant);
        Assert.True(r.Exit == 0, r.Err);
    }

    [Fact]
    public void The_conformance_suite_does_not_build_the_preset_so_does_not_ask()
    {
        var r = BadInputCli.Run("check", "--backend", "reference", "--filter", "device", "--quant", "wint4");
        Assert.True(r.Exit == 0, r.Err);
    }
}
