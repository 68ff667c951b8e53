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
        // with how many ran at once (one on the reference backend) and the host CPU time of the cases.
        Assert.Matches(@"^checked [1-9]\d* cases in \d+\.\d s \(\d+\.\d cases/s\); 1 at a time, cases host CPU \d+ s, \d+\.\d of [1-9]\d* cores$", lines[^2]);
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

    [Theory]
    [InlineData(412.4, 80.0, 16, "host CPU 412 s, 5.2 of 16 cores")]
    [InlineData(3.0, 0, 2, "host CPU 3 s, 0.0 of 2 cores")]
    public void Host_cpu_text_gives_seconds_and_mean_busy_cores(double cpu, double wall, int cores, string expected)
    {
        Assert.Equal(expected, GraphEngine.Cli.Commands.HostCpu.Text(cpu, wall, cores));
    }

    [Fact]
    public void Check_jobs_sets_the_cases_run_at_once()
    {
        var r = CliHarness.Run("check --filter device --backend reference --jobs 3");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        Assert.Contains("; 3 at a time, cases host CPU", r.Out);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    [InlineData("-2")]
    public void Check_jobs_out_of_range_is_bad_input(string jobs)
    {
        CliHarness.AssertUsageError(CliHarness.Run($"check --filter device --backend reference --jobs {jobs}"), $"'{jobs}'", "--jobs", "[1, 64]");
    }

    [Fact]
    public void Check_jobs_above_sixteen_is_refused_on_a_gpu_only()
    {
        Assert.Equal(16, GraphEngine.Cli.Commands.CheckCommand.JobsOn(BackendKind.Cuda, 16));
        Assert.Equal(40, GraphEngine.Cli.Commands.CheckCommand.JobsOn(BackendKind.Reference, 40));
        Assert.Null(GraphEngine.Cli.Commands.CheckCommand.JobsOn(BackendKind.Cuda, null));
        var e = Assert.Throws<GraphEngine.Hosting.UsageException>(() => GraphEngine.Cli.Commands.CheckCommand.JobsOn(BackendKind.Cuda, 17));
        Assert.Contains("--jobs 17 (from --jobs)", e.Message);
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
    public void Check_list_names_each_cases_kernel_variants_and_the_ones_left_to_other_gpus()
    {
        var r = CliHarness.Run("check --list --filter dense/rmsnorm/residual/bf16/t=3/h=770,moe/layer/bf16/prefix/rows-per-expert=250");
        Assert.Equal(0, r.Exit);
        Assert.Contains("dense/rmsnorm/residual/bf16/t=3/h=770  [dense, Ci]  runs: rms_norm<T, 2, 1, R, true>", r.Out);
        Assert.Contains("group_gemm_tma<T, 256, 4>", r.Out);
        Assert.Contains("not on this GPU (selected on sm_80, sm_86, sm_89, sm_100, sm_120)", r.Out);
        Assert.Contains("REACHED BY NO CASE", r.Out);   // a filter that selects two cases leaves most variants unreached
    }

    [Fact]
    public void Check_filter_selecting_nothing_is_bad_input()
    {
        CliHarness.AssertUsageError(CliHarness.Run("check --filter zzz-no-such-case --backend reference"), "zzz-no-such-case");
    }
}
