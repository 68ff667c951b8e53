using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using GraphEngine.Tests.Cli;
using GraphEngine.Tests.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Loading;

/// <summary>A checkpoint saved quantized is refused by its method's name, before any tensor is read, and the engine is left as it was.</summary>
public class PrequantizedCheckpointTests
{
    public static TheoryData<string, string?, string, string> Cases => new()
    {
        // kind, hf_quant_config.json (null: none), the key named, the value named
        { "fp8-block", null, "quantization_config.quant_method", "'fp8'" },
        { "no-method", null, "quantization_config.quant_method", "'(no quant_method)'" },
        { "modelopt", """{"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "NVFP4", "group_size": 16}}""",
          "quantization.quant_algo", "'NVFP4'" },
        { "modelopt-flat", """{"quant_algo": "FP8"}""", "quantization.quant_algo", "'FP8'" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prequantized_checkpoints_are_refused_naming_the_method(string kind, string? hfQuant, string key, string method)
    {
        using var dir = Write(kind, hfQuant);
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        long before = engine.Pool.InUseBytes;
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", true)));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(key, e.Subject);
        Assert.Contains(method, e.Message);
        Assert.Contains("pre-quantized", e.Message);
        Assert.Contains(hfQuant is null ? "config.json" : CheckpointDirectory.QuantConfigFileName, e.File);
        Assert.Empty(engine.Layers);
        Assert.Equal(before, engine.Pool.InUseBytes);
    }

    [Fact]
    public void A_broken_hf_quant_config_is_named_as_such()
    {
        using var dir = Write("plain", "{ not json");
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", true)));
        Assert.Contains(CheckpointDirectory.QuantConfigFileName, e.Message);
        Assert.Contains("is not valid JSON", e.Message);
    }

    [Fact]
    public void A_null_quantization_config_is_no_quantization()
    {
        using var dir = Write("null", null);
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", true));
        Assert.NotEmpty(engine.Layers);
    }

    [Fact]
    public void The_cli_refuses_with_exit_2_and_one_line()
    {
        using var dir = Write("fp8-block", null);
        var r = CliHarness.Run(new[] { "run", "--model", dir.Path, "--backend", "reference", "--tokens", "1" });
        CliHarness.AssertUsageError(r, "quantization_config.quant_method", "'fp8'", "config.json");
    }

    private static TempDirectory Write(string kind, string? hfQuant)
    {
        var dir = new TempDirectory();
        string quantization = kind switch
        {
            "fp8-block" => """  "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "dynamic"},""",
            "no-method" => """  "quantization_config": {"bits": 4},""",
            "null" => """  "quantization_config": null,""",
            _ => "",
        };
        string json = TinyCheckpoint.ErnieJson.Insert(TinyCheckpoint.ErnieJson.IndexOf('{') + 1, "\n" + quantization);
        _ = new TinyCheckpoint(dir.Path, json);
        if (hfQuant is not null) File.WriteAllText(dir.File(CheckpointDirectory.QuantConfigFileName), hfQuant);
        return dir;
    }
}
