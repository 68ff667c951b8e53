namespace GraphEngine.Tests.Cli;

public class CheckCommandTests
{
    [Fact]
    public void Check_filter_device_passes_on_the_reference_backend()
    {
        var r = CliHarness.Run("check --filter device --backend reference");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("device: CPU reference", lines[0]);
        Assert.Matches(@"^[1-9]\d* passed, 0 failed$", lines[^1]);
        Assert.DoesNotContain(lines, l => l.StartsWith("FAIL"));
        Assert.DoesNotContain("\u001b[", r.Out); // no ANSI codes when output is not a terminal
    }

    [Fact]
    public void Check_list_prints_case_names_without_opening_a_device()
    {
        var r = CliHarness.Run("check --list --filter device");
        Assert.Equal(0, r.Exit);
        Assert.Contains("device/random-fill/F32/n=100003", r.Out);
        Assert.DoesNotContain("device: ", r.Out);
    }

    [Fact]
    public void Check_filter_selecting_nothing_is_bad_input()
    {
        CliHarness.AssertUsageError(CliHarness.Run("check --filter zzz-no-such-case --backend reference"), "zzz-no-such-case");
    }
}
