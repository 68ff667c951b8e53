using GraphEngine.Graph;
using GraphEngine.Hosting.Reliability;
using GraphEngine.Models;
using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.Reliability;

/// <summary>Tests that read process-wide memory (GC heap, RSS): they run alone, since other tests allocating in parallel
/// would read as growth.</summary>
[CollectionDefinition(nameof(ProcessMemoryCollection), DisableParallelization = true)]
public sealed class ProcessMemoryCollection;

/// <summary>The soak on the reference backend with a small replay count: it passes on the real engine and catches a leak and a drifting step.</summary>
[Collection(nameof(ProcessMemoryCollection))]
public class SoakTests
{
    private static (PrefillEngine Engine, BuiltModel Model) Tiny(ReferenceDevice device)
    {
        var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 1, 8, 32 } }, 32);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        return (engine, model);
    }

    [Fact]
    public void Soak_of_the_tiny_model_retains_nothing_and_repeats_its_first_step()
    {
        using var device = new ReferenceDevice();
        var (engine, model) = Tiny(device);
        using var _ = engine;
        engine.Capture();
        var progress = new List<long>();
        var report = SoakRun.Run(model, 400, seed: 5, (done, _) => progress.Add(done), TimeSpan.Zero);
        // The process RSS of a test host also moves with the 1800 tests that ran before (pages the runtime hands back or
        // touches late): the soak command gates it in its own process (it shrank by 2 MB over a million replays on the H200); here
        // every other figure must hold.
        Assert.Null(report.Mismatch);
        Assert.All(report.Growth.Where(g => !g.What.StartsWith("process RSS", StringComparison.Ordinal)), g => Assert.True(g.Passed, g.ToString()));
        Assert.Equal(400, report.Replays);
        Assert.Equal(400, report.StepsPerTokens.Values.Sum());
        Assert.Equal(5 * 400, report.GraphReplays);             // the 22 layers' launch ramp (1, 2, 4, 8, 7): five launches a step, every n <= 32
        Assert.True(report.StepsPerTokens.Count > 10, $"{report.StepsPerTokens.Count} distinct token counts");
        Assert.Contains(report.StepsPerTokens.Keys, n => n is not (1 or 8 or 32));
        Assert.Contains(report.Growth, g => g.What.StartsWith("device allocated") && g.Bytes == 0);
        Assert.Equal(400, progress[^1]);
    }

    [Fact]
    public void Soak_catches_a_step_that_leaks_device_memory()
    {
        using var device = new ReferenceDevice();
        var (engine, model) = Tiny(device);
        var leaked = new List<DeviceBuffer>();
        try
        {
            engine.AddEager("leaks", (_, _) => leaked.Add(device.Allocate(256, "leak")));
            engine.Capture();
            var report = SoakRun.Run(model, 60);
            Assert.False(report.Passed);
            var g = report.Growth.Single(x => x.What.StartsWith("device allocated"));
            Assert.False(g.Passed);
            Assert.Equal(256L * (60 - SoakRun.WarmupFor(60)), g.Bytes);
        }
        finally
        {
            engine.Dispose();
            foreach (var b in leaked) b.Dispose();
        }
    }

    [Fact]
    public void Soak_catches_a_last_step_that_differs_from_the_first()
    {
        using var device = new ReferenceDevice();
        var (engine, model) = Tiny(device);
        using var _ = engine;
        ushort step = 0;
        // The application's step after the model scribbles a different bf16 value into row 0 each time.
        engine.AddEager("drifts", (stream, _) => stream.Fill16Async(model.Output.Ptr, (ushort)(0x3F80 + ++step), 1));
        engine.Capture();
        var report = SoakRun.Run(model, 20);
        Assert.False(report.Passed);
        Assert.Contains("differs from the first at element 0", report.Mismatch);
    }

    [Fact]
    public void Token_counts_mix_captured_sizes_and_counts_between_them_and_repeat_by_seed()
    {
        var a = SoakRun.TokenCounts(new[] { 1, 8, 32 }, 32, 9).Take(2000).ToArray();
        Assert.Equal(a, SoakRun.TokenCounts(new[] { 1, 8, 32 }, 32, 9).Take(2000));
        Assert.All(a, n => Assert.InRange(n, 1, 32));
        int sizes = a.Count(n => n is 1 or 8 or 32);
        Assert.InRange(sizes, 900, 1300);                  // about half plus the uniform draws that land on a size
        Assert.Equal(32, a.Distinct().Count());
    }

    [Fact]
    public void Soak_command_runs_on_the_reference_backend()
    {
        var r = CliHarness.Run("soak --backend reference --replays 20 --sizes 1,64,256");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        Assert.Contains("replayed 20 steps", r.Out);
        Assert.Contains("is bit-identical to the first", r.Out);
        Assert.EndsWith("soak passed", r.Out.TrimEnd());
    }

    [Theory]
    [InlineData("--replays 0", "'0'")]
    [InlineData("--replays abc", "'abc'")]
    [InlineData("--replays 2147483648", "'2147483648'")]
    [InlineData("--seed -1", "'-1'")]
    public void Soak_options_are_checked_before_work(string args, string value)
    {
        CliHarness.AssertUsageError(CliHarness.Run($"soak --backend reference {args}"), value, args.Split(' ')[0]);
    }

    [Fact]
    public void Faults_command_prints_one_line_per_fault_and_a_summary()
    {
        var r = CliHarness.Run("faults --backend reference --filter capture/layer/rmsnorm,kernel-cache");
        Assert.True(r.Exit == 0, r.Out + r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Count(l => l.StartsWith("survived ")));
        Assert.Contains(lines, l => l.StartsWith("survived kernel-cache/corrupt-entry: cuda/kernel-disk-cache:"));
        Assert.Matches(@"^3 faults injected in \d+\.\d s: 3 survived, 0 failed$", lines[^1]);
    }

    [Fact]
    public void Faults_filter_selecting_nothing_is_bad_input()
    {
        CliHarness.AssertUsageError(CliHarness.Run("faults --backend reference --filter zzz-none"), "zzz-none");
    }
}
