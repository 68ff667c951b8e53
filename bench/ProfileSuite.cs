using GraphEngine.Bench.Reports;
using GraphEngine.Graph;
using GraphEngine.Hosting;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Profiling;
using GraphEngine.Models;

namespace GraphEngine.Bench;

/// <summary>One traced configuration: a preset at one token count in one mode, its median step and the figures around it.</summary>
public sealed record ProfilePoint(
    string Preset, string Quant, string Mode, int Tokens, int Steps,
    double WallMs, double TracedWallMs, double BusyMs, double SpanMs, double FloorMs, string FloorBound,
    int Kernels, int Gaps, double GapSumUs, double GapMedianUs, double GapLargestUs, string? GapBefore, string? GapAfter,
    IReadOnlyList<FamilyShare> Families, IReadOnlyList<KernelShare> TopKernels, string? Svg, double HostMs = double.NaN)
{
    public double TracingOverhead => WallMs > 0 ? TracedWallMs / WallMs - 1 : double.NaN;
    /// <summary>Busy over the wall time of the traced steps it was measured in (the untraced wall is shorter by the overhead).</summary>
    public double BusyFraction => TracedWallMs > 0 ? BusyMs / TracedWallMs : double.NaN;
    public double FloorRatio => FloorMs > 0 ? WallMs / FloorMs : double.NaN;
}

/// <summary>A kernel family's (layer kind's) time in the median step.</summary>
public sealed record FamilyShare(string Family, int Count, double Us, double Share);

/// <summary>One kernel name's time in the median step.</summary>
public sealed record KernelShare(string Name, string Family, int Count, double Us, double Share);

/// <summary>Everything one `graphengine profile` call traced.</summary>
public sealed record ProfileReport(int SchemaVersion, Provenance Provenance, string Method, IReadOnlyList<ProfilePoint> Points);

/// <summary>
/// `graphengine profile`: for each token count and mode (eager, Layer graphs, Segment graphs) it traces K real
/// steps with CUPTI and reports wall time (untraced, and while tracing: the overhead), busy time, span, idle
/// gaps with the kernels on each side of the largest, kernels per step, time per kernel family and the top
/// kernels, against the step's floor; and writes an SVG timeline of the median step of each point.
/// </summary>
public sealed class ProfileSuite
{
    public const string Method =
        "CUPTI activity records (concurrent kernels, memcpy, memset) of K real steps, each cut at host timestamps taken after " +
        "the step's synchronize; busy = union of record intervals; the median step by busy time is reported; wall = median " +
        "host time from dispatch until the stream is idle, traced, and untraced (the mean of the medians of untraced steps " +
        "before and after the traced ones); busy / wall uses the traced wall.";

    private readonly CommandContext _ctx;
    private readonly Device _device;
    private readonly CuptiTracer _tracer;
    private readonly int _steps;
    private readonly string _outDir;
    private readonly Ceilings _ceilings;

    public ProfileSuite(CommandContext ctx, Device device, CuptiTracer tracer, Ceilings ceilings, int steps, string outDir)
    {
        _ctx = ctx;
        _device = device;
        _tracer = tracer;
        _ceilings = ceilings;
        _steps = steps;
        _outDir = outDir;
    }

    public IReadOnlyList<ProfilePoint> Run(IReadOnlyList<string> modes)
    {
        var preset = _ctx.Settings.Preset;
        var quant = _ctx.Settings.Quant;
        var points = new List<ProfilePoint>();
        var baseOptions = ModelSession.BindOptions(_ctx, preset.MaxTokens);
        foreach (var mode in modes)
        {
            var options = ModelSession.With(baseOptions, enabled: mode != "eager",
                granularity: mode == "segment" ? Granularity.Segment : Granularity.Layer, debug: false);
            _ctx.Console.Line($"profile {preset.Name} ({quant.Label}), {mode}: building...");
            using var session = ModelSession.Create(_ctx, _device, preset, quant, options, quiet: true);
            foreach (int n in _ctx.Settings.TokenCounts)
            {
                var engine = session.Engine;
                Action step = mode == "eager" ? () => session.EagerStep(n) : () => engine.Prefill(n);
                // Untraced steps before and after the traced ones: clocks drift over a long run (a 60 ms step of big
                // GEMMs heats the GPU), and the mean of the two medians cancels a linear drift that would
                // otherwise be counted as tracing overhead.
                var before = Timing.Step(engine.Stream, step, 3, _steps);
                var traced = new List<double>();
                var steps = StepProfiler.Trace(_tracer, engine.Stream, () =>
                {
                    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                    step();
                    engine.Stream.Synchronize();
                    traced.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }, 1, _steps);
                var after = Timing.Step(engine.Stream, step, 0, _steps);
                var median = StepProfiler.Median(steps);
                double untracedWall = 0.5 * (before.WallMs + after.WallMs);
                var point = Point(session, preset, quant.Label, mode, n, untracedWall, Timing.Median(traced.Skip(1)), median)
                    with { HostMs = 0.5 * (before.HostMs + after.HostMs) };
                points.Add(point);
                _ctx.Console.Line($"  n={n,5}: wall {point.WallMs,8:F3} ms (traced {point.TracedWallMs:F3}, host dispatch {point.HostMs:F3}), busy {point.BusyMs,8:F3} ms, " +
                                  $"{point.Kernels} kernels, {point.Gaps} gaps (sum {point.GapSumUs:F1} us, largest {point.GapLargestUs:F1} us), " +
                                  $"floor {point.FloorMs:F3} ms");
            }
        }
        return points;
    }

    private ProfilePoint Point(ModelSession session, ModelPreset preset, string quant, string mode, int n, double wall, double tracedWall,
        StepTimeline step)
    {
        // The experts this step's routing really hit (every MoE layer's counts of the last step at n).
        var (bytes, _) = session.Model.LastStepWeightBytes();
        double flops = LayerPlan.StepFlops(preset, n);
        double mem = bytes / (_ceilings.CopyGBps * 1e9) * 1e3;
        double cmp = double.IsFinite(_ceilings.MatrixTflops) ? flops / (_ceilings.MatrixTflops * 1e12) * 1e3 : double.NaN;
        (double floor, string bound) = !(cmp > mem) ? (mem, "memory") : (cmp, "compute");
        // Each record's own time (past the end of the one before it on its stream: a dependent launch's wait is not its own).
        var own = step.Records.Select((r, i) => (r, Ns: (double)step.ExclusiveNs[i])).ToArray();
        double total = own.Sum(x => x.Ns);
        var families = step.Families.Select(f => new FamilyShare(f.Family, f.Count, f.TotalNs / 1e3, f.Share)).ToArray();
        var top = own.GroupBy(x => x.r.Name)
            .Select(g => new KernelShare(g.Key, step.FamilyOf(g.First().r), g.Count(), g.Sum(x => x.Ns) / 1e3,
                total > 0 ? g.Sum(x => x.Ns) / total : 0))
            .OrderByDescending(k => k.Us).Take(5).ToArray();
        string svgName = $"timeline-{Safe(preset.Name)}-{mode}-n{n}.svg";
        Directory.CreateDirectory(_outDir);
        File.WriteAllText(Path.Combine(_outDir, svgName),
            TimelineSvg.Render(step, $"{preset.Name} ({quant}) {mode} n={n}: busy {step.BusyNs / 1e6:F3} ms of {step.SpanNs / 1e6:F3} ms span"));
        var g = step.Gaps;
        return new ProfilePoint(preset.Name, quant, mode, n, _steps, wall, tracedWall, step.BusyNs / 1e6, step.SpanNs / 1e6, floor, bound,
            step.KernelCount, g.Count, g.TotalNs / 1e3, g.MedianNs / 1e3, g.LargestNs / 1e3, g.Before, g.After, families, top, svgName);
    }

    private static string Safe(string s) => new(s.Select(c => char.IsLetterOrDigit(c) || c is '-' or '.' ? c : '_').ToArray());
}
