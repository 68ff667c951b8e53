using GraphEngine.Tests.Models.Checkpoints;
using GraphEngine.Tests.Models.Loading;

namespace GraphEngine.Tests.Cli;

/// <summary>`--model DIR` on run, list and check, with checkpoints the test writes, and its bad-input rows.</summary>
public class ModelOptionTests
{
    [Fact]
    public void Run_model_on_the_reference_backend_prints_the_listing_and_steps()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.ErnieJson);
        var r = CliHarness.Run(new[] { "run", "--model", dir.Path, "--backend", "reference", "--tokens", "1,7", "--sizes", "1,8" });
        Assert.True(r.Exit == 0, r.Out + r.Err);
        Assert.Contains("device: CPU reference", r.Out);
        Assert.Contains("layers.2.mlp", r.Out);
        // Not a terminal: no bar, one line with what was loaded and at what rate.
        Assert.Matches(@"loaded 17 layers, \d+\.\d\d GB, from .+ in \d+\.\d\d s \(\d+\.\d\d GB/s\)", r.Out);
        // Dense layer 0: 7 engine layers; two MoE layers: 5 each.
        Assert.Contains("17 layers on graphs, 0 eager", r.Out);
        var steps = r.Out.Split('\n').Where(l => l.TrimStart().StartsWith("| 1 ") || l.TrimStart().StartsWith("| 7 ")).ToList();
        Assert.Equal(2, steps.Count);
        Assert.All(steps, row => Assert.Matches(@"\|\s+0\s+\|$", row.TrimEnd()));
    }

    [Fact]
    public void List_model_json_names_every_layer()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.LlamaJson);
        var r = CliHarness.Run(new[] { "list", "--model", dir.Path, "--backend", "reference", "--sizes", "4", "--json" });
        Assert.True(r.Exit == 0, r.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Out);
        Assert.Equal(2 * 7, doc.RootElement.GetProperty("layers").GetArrayLength());
    }

    [Theory]
    [InlineData("ernie")]
    [InlineData("qwen3")]
    public void Check_model_passes_every_layer_against_float64(string which)
    {
        using var dir = new TempDirectory();
        var ckpt = new TinyCheckpoint(dir.Path, which == "ernie" ? TinyCheckpoint.ErnieJson : TinyCheckpoint.Qwen3MoeJson);
        var r = CliHarness.Run(new[] { "check", "--model", dir.Path, "--backend", "reference", "--tokens", "1,7" });
        Assert.True(r.Exit == 0, r.Out + r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        int engineLayers = ckpt.Model.DecoderLayers.Sum(d => d.IsMoe ? 5 : 7);
        Assert.Equal($"{engineLayers * 2} passed, 0 failed", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("pass layers.1.mlp n=7: rel err", StringComparison.Ordinal));
    }

    [Fact]
    public void Check_model_against_an_oracle_file_reports_each_sublayer_and_catches_a_wrong_one()
    {
        using var dir = new TempDirectory();
        var ckpt = new TinyCheckpoint(dir.Path, TinyCheckpoint.ErnieJson);
        string file = dir.File("oracle.safetensors");
        OracleFileWriter.Write(ckpt, file, new[] { 1, 7, 20 }, corrupt: null);
        var r = CliHarness.Run(new[] { "check", "--model", dir.Path, "--oracle", file, "--backend", "reference" });
        Assert.True(r.Exit == 0, r.Out + r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"{3 * 5 * 3} passed, 0 failed", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("pass layers.0.self_attn.qkv_proj n=20", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("pass layers.2.mlp n=7", StringComparison.Ordinal) && l.Contains("expert mismatches 0"));

        // A recording that disagrees (o_proj scaled by 1.05, one token's experts replaced) fails those rows only.
        OracleFileWriter.Write(ckpt, file, new[] { 1, 7, 20 }, corrupt: "layers.1.n7");
        var bad = CliHarness.Run(new[] { "check", "--model", dir.Path, "--oracle", file, "--backend", "reference" });
        Assert.Equal(1, bad.Exit);
        var fails = bad.Out.Split('\n').Where(l => l.StartsWith("FAIL", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, fails.Count);
        Assert.Contains(fails, l => l.Contains("layers.1.self_attn.o_proj n=7"));
        Assert.Contains(fails, l => l.Contains("layers.1.mlp n=7") && l.Contains("expert mismatches 1"));
    }

    [Fact]
    public void Bad_model_input_is_one_line_with_exit_2()
    {
        using var dir = new TempDirectory();
        string missing = Path.Combine(dir.Path, "nope");
        CliHarness.AssertUsageError(CliHarness.Run(new[] { "run", "--model", missing, "--backend", "reference" }), missing);
        CliHarness.AssertUsageError(CliHarness.Run(new[] { "run", "--model", dir.Path, "--backend", "reference" }), "config.json");
        File.WriteAllText(dir.File("config.json"), """{ "model_type": "gpt_neox", "hidden_size": 64 }""");
        var unknown = CliHarness.Run(new[] { "list", "--model", dir.Path, "--backend", "reference" });
        CliHarness.AssertUsageError(unknown, "gpt_neox");
        CliHarness.AssertUsageError(CliHarness.Run(new[] { "run", "--model", dir.Path, "--preset", "tiny" }), "--preset and --model");
    }

    [Fact]
    public void A_checkpoint_that_contradicts_its_config_is_bad_input_naming_the_tensor()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.LlamaJson,
            edit: l => l.RemoveAll(t => t.Name == "model.layers.1.mlp.up_proj.weight"));
        CliHarness.AssertUsageError(CliHarness.Run(new[] { "run", "--model", dir.Path, "--backend", "reference", "--tokens", "1" }),
            "model.layers.1.mlp.up_proj.weight");
    }
}
