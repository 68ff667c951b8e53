using System.Text.Json;

namespace GraphEngine.Tests.Cli;

public class MutantCheckTests
{
    [Fact]
    public void Mutants_on_the_reference_backend_report_caught_twins_and_exit_zero()
    {
        var r = CliHarness.Run("check --mutants --filter moe_permute,rms_norm --backend reference");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.StartsWith("caught") && l.Contains("GE_MUTANT_SWIGLU_SWAP"));
        Assert.Contains(lines, l => l.StartsWith("n/a") && l.Contains("GE_MUTANT_RMSNORM_RACY_SUM"));
        Assert.Matches(@"^[1-9]\d* caught, 0 missed, [1-9]\d* not applicable$", lines[^1]);
    }

    [Fact]
    public void Mutants_json_is_one_document_with_an_outcome_per_mutant()
    {
        var r = CliHarness.Run("check --mutants --filter GE_MUTANT_COMBINE_DROP_LAST_SLOT,GE_MUTANT_WO_DROP_LAST_K --backend reference --json");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("check --mutants", doc.RootElement.GetProperty("command").GetString());
        var rows = doc.RootElement.GetProperty("mutants").EnumerateArray().ToDictionary(m => m.GetProperty("define").GetString()!, m => m.GetProperty("outcome").GetString());
        Assert.Equal("Caught", rows["GE_MUTANT_COMBINE_DROP_LAST_SLOT"]);
        Assert.Equal("NotApplicable", rows["GE_MUTANT_WO_DROP_LAST_K"]);
        Assert.Equal(1, doc.RootElement.GetProperty("caught").GetInt32());
    }

    [Fact]
    public void Mutant_filter_selecting_nothing_is_bad_input_and_list_opens_no_device()
    {
        CliHarness.AssertUsageError(CliHarness.Run("check --mutants --filter zzz-no-mutant --backend reference"), "zzz-no-mutant");
        var list = CliHarness.Run("check --mutants --list");
        Assert.Equal(0, list.Exit);
        Assert.Contains("GE_MUTANT_GG_FP16_ACCUMULATOR", list.Out);
        Assert.DoesNotContain("device: ", list.Out);
    }
}
