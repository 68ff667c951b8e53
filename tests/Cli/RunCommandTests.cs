using System.Text.Json;

namespace GraphEngine.Tests.Cli;

/// <summary>`run` and `list` end to end on the reference backend with the tiny preset (two sizes keep capture short).</summary>
public class RunCommandTests
{
    [Fact]
    public void Run_tiny_on_the_reference_backend_prints_listing_and_steps()
    {
        var r = CliHarness.Run("run --backend reference --preset tiny --tokens 1,7 --sizes 1,8");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        Assert.Contains("device: CPU reference", r.Out);
        Assert.Contains("layers.3.mlp", r.Out);                // the listing names every layer
        Assert.Contains("22 layers on graphs, 0 eager", r.Out);
        var stepRows = r.Out.Split('\n').Where(l => l.TrimStart().StartsWith("| 1 ") || l.TrimStart().StartsWith("| 7 ")).ToList();
        Assert.Equal(2, stepRows.Count);
        // n = 7 replays the size-8 graphs; graph and eager outputs are identical on the reference backend.
        Assert.Matches(@"\|\s+7\s+\|\s+8\s+\|", stepRows[1]);
        Assert.All(stepRows, row => Assert.Matches(@"\|\s+0\s+\|$", row.TrimEnd()));
        Assert.DoesNotContain("\u001b[", r.Out);
    }

    [Fact]
    public void List_json_is_the_engine_listing()
    {
        var r = CliHarness.Run("list --backend reference --preset tiny --sizes 4 --json");
        Assert.True(r.Exit == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var layers = doc.RootElement.GetProperty("layers");
        Assert.Equal(22, layers.GetArrayLength());   // dense layer 0: 7 layers, 3 MoE layers: 5 each
        Assert.All(layers.EnumerateArray(), l => Assert.Equal("graph", l.GetProperty("path").GetString()));
        Assert.Equal(new[] { 4 }, doc.RootElement.GetProperty("sizes").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void Excluded_layers_show_their_reason_in_the_listing()
    {
        var env = new Dictionary<string, string?> { ["GRAPHENGINE__BLOCKWISECUDAGRAPH__EXCLUDE"] = "*.mlp" };
        var r = CliHarness.Run("list --backend reference --preset tiny --sizes 2 --json", env);
        Assert.True(r.Exit == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var moe = doc.RootElement.GetProperty("layers").EnumerateArray().Where(l => l.GetProperty("name").GetString()!.EndsWith(".mlp")).ToList();
        Assert.Equal(3, moe.Count);   // tiny's layer 0 is dense, like ERNIE-4.5's
        Assert.All(moe, l =>
        {
            Assert.Equal("eager", l.GetProperty("path").GetString());
            Assert.Contains("*.mlp", l.GetProperty("fallbackReason").GetString());
        });
    }

    [Fact]
    public void Sizes_above_the_preset_max_tokens_are_bad_input()
    {
        CliHarness.AssertUsageError(CliHarness.Run("run --backend reference --preset tiny --sizes 1,4096"), "4096");
    }

    [Fact]
    public void Bad_granularity_is_bad_input()
    {
        CliHarness.AssertUsageError(CliHarness.Run("list --backend reference --granularity Block"), "Block");
    }

    [Fact]
    public void Full_size_presets_are_refused_on_the_reference_backend_before_allocating()
    {
        CliHarness.AssertUsageError(CliHarness.Run("run --backend reference --preset ernie45-21b-a3b"), "ernie45-21b-a3b");
        CliHarness.AssertUsageError(CliHarness.Run("list --backend reference --preset llama3-8b"), "llama3-8b");
    }
}
