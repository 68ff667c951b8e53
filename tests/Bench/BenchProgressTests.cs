using GraphEngine.Bench;
using GraphEngine.Hosting;

namespace GraphEngine.Tests.Bench;

/// <summary>The bench's progress bar: one step per planned family (as --families selects), and lines printed through
/// the live display while it is up, so they land above the bar instead of through it.</summary>
public class BenchProgressTests
{
    private static KernelSuite Suite(Device device, IReadOnlyList<string>? families, CliConsole console) =>
        new(new BenchRun(device, new GraphEngine.Bench.Reports.BenchReport(), new BenchOptions("out", false, BenchSuite.Kernels, 1, 0, "python3", null, families), new TorchPeers()), console);

    [Fact]
    public void The_bar_has_one_step_per_family_the_run_will_time()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var console = CliConsole.Plain(new StringWriter(), new StringWriter());
        Assert.Equal(new[] { "rmsnorm", "linear", "block_fp8", "moe", "moe_gemm", "w4afp8" }, Suite(device, null, console).Planned());
        Assert.Equal(new[] { "linear", "moe_gemm" }, Suite(device, new[] { "moe_gemm", "linear" }, console).Planned());
    }

    [Fact]
    public void Lines_go_through_the_live_display_only_while_it_is_up()
    {
        var output = new StringWriter();
        var console = new CliConsole(output, new StringWriter(), interactive: true);
        console.Line("before");
        console.LiveDisplay = true;
        console.Line("kernels: moe done in 1.0 s");
        console.LiveDisplay = false;
        console.Line("after");
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(new[] { "before", "kernels: moe done in 1.0 s", "after" }, lines);
    }
}
