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
        // The wall time of the run comes just before the totals, which stay the last line.
        Assert.Matches(@"^checked [1-9]\d* cases in \d+\.\d s \(\d+\.\d cases/s\)$", lines[^2]);
        Assert.DoesNotContain(lines, l => l.StartsWith("FAIL"));
        Assert.DoesNotContain("\u001b[", r.Out); // no ANSI codes when output is not a terminal
    }

    [Theory]
    [InlineData(536, 84.1, "checked 536 cases in 84.1 s (6.4 cases/s)")]
    [InlineData(3, 0.04, "checked 3 cases in 0.0 s (75.0 cases/s)")]
    [InlineData(1, 0, "checked 1 cases in 0.0 s (0.0 cases/s)")]
    public void Wall_line_gives_cases_seconds_and_rate(int cases, double seconds, string expected)
    {
        Assert.Equal(expected, GraphEngine.Cli.Commands.CheckCommand.WallLine(cases, seconds));
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
