using GraphEngine.Hosting;

namespace GraphEngine.Tests.Cli;

public class CommandLineTests
{
    [Fact]
    public void Quant_json_that_is_malformed_is_bad_input()
    {
        var r = CliHarness.Run(new[] { "check", "--quant", "{\"dense_quant_type\": " });
        CliHarness.AssertUsageError(r, "dense_quant_type");
    }

    [Fact]
    public void Missing_config_file_is_bad_input()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ge-missing-{Guid.NewGuid():N}.json");
        CliHarness.AssertUsageError(CliHarness.Run(new[] { "check", "--config", path }), path);
    }

    [Fact]
    public void Config_file_that_is_not_json_is_bad_input()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ge-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, "GraphEngine = { not json");
        try
        {
            CliHarness.AssertUsageError(CliHarness.Run(new[] { "check", "--config", path }), path);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Cuda_backend_without_a_gpu_is_bad_input()
    {
        // CI machines have no GPU; on a GPU machine this test has nothing to say.
        using var probe = GraphEngine.Kernels.Device.Open(GraphEngine.Kernels.BackendPreference.Auto);
        if (probe.Kind == GraphEngine.Kernels.BackendKind.Cuda) return;
        CliHarness.AssertUsageError(CliHarness.Run("check --filter device --backend cuda"), "cuda");
    }

    [Fact]
    public void Environment_supplies_an_option_and_the_error_names_the_key()
    {
        var env = new Dictionary<string, string?> { ["GRAPHENGINE__RUN__PRESET"] = "nonesuch" };
        var r = CliHarness.Run("check --filter device --backend reference", env);
        CliHarness.AssertUsageError(r, "nonesuch");
        Assert.Contains("environment variable GRAPHENGINE__RUN__PRESET", r.Err);
    }

    [Fact]
    public void Command_line_wins_over_environment_and_file()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ge-cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "GraphEngine": { "Run": { "Preset": "fromfile", "Tokens": "1,2" } } }""");
        try
        {
            // File alone: its bad preset is named.
            var fromFile = CliHarness.Run(new[] { "check", "--filter", "device", "--backend", "reference", "--config", path });
            CliHarness.AssertUsageError(fromFile, "fromfile");
            // Environment beats the file.
            var env = new Dictionary<string, string?> { ["GRAPHENGINE__RUN__PRESET"] = "fromenv" };
            CliHarness.AssertUsageError(CliHarness.Run(new[] { "check", "--config", path }, env), "fromenv");
            // The command line beats both.
            var ok = CliHarness.Run(new[] { "check", "--filter", "device", "--backend", "reference", "--config", path, "--preset", "tiny" }, env);
            Assert.True(ok.Exit == 0, ok.Err);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Token_list_parsing_trims_dedups_and_keeps_order()
    {
        Assert.Equal(new[] { 7, 1, 100 }, TokenList.Parse(" 7, 1 ,100,7", "test", 512));
        var e = Assert.Throws<UsageException>(() => TokenList.Parse("1,513", "test", 512));
        Assert.Contains("'513'", e.Message);
        Assert.Contains("512", e.Message);
    }

    [Fact]
    public void Quant_accepts_fastdeploy_mix_quant_json_and_names_a_bad_type()
    {
        var ok = CliHarness.Run(new[] { "check", "--filter", "device", "--backend", "reference", "--quant",
            """{"quantization":"mix_quant","dense_quant_type":"wint8","is_moe_quantized":true,"moe_quant_type":"wint4"}""" });
        Assert.True(ok.Exit == 0, ok.Err);
        CliHarness.AssertUsageError(CliHarness.Run(new[] { "check", "--quant", """{"quantization":"mix_quant","dense_quant_type":"wint8","moe_quant_type":"int3"}""" }), "int3");
    }
}
