using System.Text.Json.Nodes;
using GraphEngine.Bench.Reports;
using GraphEngine.Graph;
using GraphEngine.Hosting;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Profiling;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Models;

namespace GraphEngine.Bench;

/// <summary>
/// The prefill sweep: for each preset and token count, eager, Layer graphs and Segment graphs, each in
/// its own engine (the model is rebuilt per mode so only one copy of the weights is on the device at a
/// time). Plus the graph-engine stack: 64 layers alternating RMSNorm(2560) and Linear(2560->2560). Busy time
/// and gaps come from CUPTI records of the real step (<see cref="StepProfiler"/>); on the reference backend,
/// or without CUPTI, busy time is not reported.
/// </summary>
public sealed class PrefillSuite
{
    public static readonly string[] Modes = { "eager", "layer", "segment" };

    public const string BusyMethod = StepProfiler.BusyMethod;

    private readonly CommandContext _ctx;
    private readonly BenchRun _run;

    public PrefillSuite(CommandContext ctx, BenchRun run)
    {
        _ctx = ctx;
        _run = run;
    }
    private int BusyReps => Math.Min(_run.Options.Repetitions, 10);
    private CuptiTracer? _tracer;
    private bool _tracerTried;

    // One tracer for the suite (CUPTI is process-wide); null with the reason recorded once when it can't trace.
    private CuptiTracer? Tracer()
    {
        if (_tracerTried) return _tracer;
        _tracerTried = true;
        _tracer = StepProfiler.TryOpen(_run.Device, out string why);
        if (_tracer is null) _run.Report.Missing.Add(new Missing("busy time and gaps (CUPTI)", why));
        return _tracer;
    }

    // Busy time of the real step from CUPTI and the wall time of those same traced steps, medians; NaN when
    // nothing can trace here. Busy is set against the traced wall: tracing slows the step a little, so busy
    // over the untraced wall could read above 100%.
    private (double BusyMs, double TracedWallMs) Busy(ComputeStream stream, Action step)
    {
        if (Tracer() is not { } tracer) return (double.NaN, double.NaN);
        var walls = new List<double>();
        var steps = StepProfiler.Trace(tracer, stream, () =>
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            step();
            stream.Synchronize();
            walls.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }, 1, BusyReps);
        return steps.Count == 0 ? (double.NaN, double.NaN) : (Timing.Median(steps.Select(t => t.BusyNs / 1e6)), Timing.Median(walls));
    }

    public void Run()
    {
        bool explicitPreset = _ctx.Config[$"{RunSettings.Section}:Preset"] is not null;
        var presets = explicitPreset ? new[] { _ctx.Settings.Preset }
            : _run.Gpu ? new[] { ModelPresets.Ernie45_21B_A3B, ModelPresets.Llama3_8B } : new[] { ModelPresets.Tiny };
        try
        {
            foreach (var p in presets) RunPreset(p);
            RunStack64();
        }
        finally
        {
            _tracer?.Dispose();
        }
    }

    private int[] TokensFor(ModelPreset p)
    {
        string? text = _ctx.Config[$"{RunSettings.Section}:Tokens"];
        return text is null ? p.DefaultTokens.ToArray() : TokenList.Parse(text, "--tokens", p.MaxTokens);
    }

    private void RunPreset(ModelPreset preset)
    {
        var quant = _ctx.Settings.Quant;
        if (!preset.IsMoe && quant.DenseMode == QuantMode.None && quant.MoeMode != QuantMode.None)
        {
            _run.Report.Missing.Add(new Missing($"prefill {preset.Name} ({quant.Label})", "the quantization is MoE-only and the preset is dense"));
            return;
        }
        var tokens = TokensFor(preset);
        var baseOptions = ModelSession.BindOptions(_ctx, preset.MaxTokens);
        string label = quant.Label;
        if (_ctx.Settings.Quant.DenseMode == QuantMode.None && _ctx.Settings.Quant.MoeMode == QuantMode.None) _run.Torch.AddPreset(preset, label, tokens);
        else _run.Report.Missing.Add(new Missing($"torch peer {preset.Name} ({label})", "the PyTorch stack is bf16 only"));

        foreach (var mode in Modes)
        {
            var options = ModelSession.With(baseOptions, enabled: mode != "eager",
                granularity: mode == "segment" ? Granularity.Segment : Granularity.Layer, debug: false);
            _ctx.Console.Line($"prefill {preset.Name} ({label}), {mode}: building...");
            ModelSession session;
            try
            {
                session = ModelSession.Create(_ctx, _run.Device, preset, quant, options, quiet: true);
            }
            catch (Exception e) when (e is NotSupportedException or NotImplementedException or GraphEngineException or ArgumentException or OutOfMemoryException)
            {
                _run.Report.Missing.Add(new Missing($"prefill {preset.Name} ({label}) {mode}", $"not built: {e.GetType().Name}: {e.Message}"));
                continue;
            }
            using (session)
            {
                if (session.Capture is { } c)
                {
                    _run.Report.Figures.Add(new Figure($"capture {preset.Name} ({label})", $"{mode}: {c.Graphs} graphs, capture + instantiate", c.CaptureMs + c.InstantiateMs, "ms"));
                    _run.Report.Figures.Add(new Figure($"capture {preset.Name} ({label})", $"{mode}: graph memory", c.GraphBytes / 1048576.0, "MiB",
                        Note: c.FreeMemoryMeasured ? "driver free-memory delta" : "allocator delta only"));
                }
                foreach (int n in tokens)
                {
                    var engine = session.Engine;
                    Action step = mode == "eager" ? () => session.EagerStep(n) : () => engine.Prefill(n);
                    var t = Timing.Step(engine.Stream, step, _run.Options.Warmup, _run.Options.Repetitions);
                    var (busy, tracedWall) = Busy(engine.Stream, step);
                    _run.Report.Prefill.Add(Point(session.Model, preset, label, mode, n, t, busy, tracedWall));
                    _ctx.Console.Line($"  n={n,5}: wall {t.WallMs,9:F3} ms, GPU span {t.GpuMs,9:F3} ms, busy {busy,9:F3} ms of {tracedWall:F3} ms traced");
                }
            }
        }
    }

    private PrefillPoint Point(BuiltModel model, ModelPreset preset, string label, string mode, int n, StepTime t, double busyMs, double tracedWallMs)
    {
        // The experts this step's routing really hit (every MoE layer's counts of the last step at n).
        var (bytes, hit) = model.LastStepWeightBytes();
        double flops = LayerPlan.StepFlops(preset, n);
        var (floor, bound) = _run.Floor(bytes, flops);
        return new PrefillPoint(preset.Name, label, mode, n, t.WallMs, t.GpuMs, busyMs, floor, bound, bytes, hit, flops, tracedWallMs);
    }

    // ------------------------------------------------------------ the graph-engine stack: 64 alternating layers


    private void RunStack64()
    {
        const int hidden = 2560, pairs = 32, maxTokens = 2048;
        int[] tokens = _run.Gpu ? new[] { 1, 16, 64, 128 } : new[] { 1, 16 };
        int h = _run.Gpu ? hidden : 256;
        string name = $"stack64(rmsnorm+linear {h})";
        var ops = new JsonArray();
        for (int i = 0; i < pairs; i++)
        {
            ops.Add(new JsonObject { ["op"] = "rmsnorm", ["hidden"] = h, ["residual"] = false });
            ops.Add(new JsonObject { ["op"] = "linear", ["in"] = h, ["out"] = h });
        }
        _run.Torch.AddStack(name, "bf16", h, ops, tokens);
        var baseOptions = ModelSession.BindOptions(_ctx, _run.Gpu ? maxTokens : 256);
        foreach (var mode in Modes)
        {
            var options = ModelSession.With(baseOptions, enabled: mode != "eager",
                granularity: mode == "segment" ? Granularity.Segment : Granularity.Layer, debug: false);
            PrefillEngine engine;
            try
            {
                engine = new PrefillEngine(_run.Device, options, _run.Gpu ? maxTokens : 256);
            }
            catch (Exception e) when (e is ArgumentException or GraphEngineException)
            {
                _run.Report.Missing.Add(new Missing($"{name} {mode}", e.Message));
                continue;
            }
            using (engine)
            {
                var layers = BuildStack64(engine, h, pairs);
                CaptureReport? cap = options.Enabled ? engine.Capture() : null;
                if (cap is not null)
                {
                    _run.Report.Figures.Add(new Figure("graph engine stack", $"{mode}: capture + instantiate, {cap.Graphs} graphs at {engine.Sizes.Count} sizes",
                        cap.CaptureMs + cap.InstantiateMs, "ms", "<= 2000 ms for 12 sizes"));
                    _run.Report.Figures.Add(new Figure("graph engine stack", $"{mode}: graph memory beyond activations", cap.GraphBytes / 1048576.0, "MiB", "<= 64 MiB",
                        cap.FreeMemoryMeasured ? "driver free-memory delta" : "allocator delta only"));
                }
                long weightBytes = layers.Sum(l => l.WeightBytes);
                foreach (int n in tokens)
                {
                    Action step = mode == "eager" ? () => EagerStep(engine, layers, n) : () => engine.Prefill(n);
                    var t = Timing.Step(engine.Stream, step, _run.Options.Warmup, _run.Options.Repetitions);
                    var (busy, tracedWall) = Busy(engine.Stream, step);
                    var (floor, bound) = _run.Floor(weightBytes, 2.0 * n * h * (double)h * pairs);
                    _run.Report.Prefill.Add(new PrefillPoint(name, "bf16", mode, n, t.WallMs, t.GpuMs, busy, floor, bound, weightBytes, 0,
                        2.0 * n * h * (double)h * pairs, tracedWall));
                    if (mode != "eager")
                        _run.Report.Figures.Add(new Figure("graph engine stack", $"{mode}: host dispatch per layer, n={n}", t.HostMs * 1e3 / layers.Count, "us",
                            mode == "layer" ? "<= 2 us per replayed layer" : null, "host time of Prefill(n) until it returns, over 64 layers"));
                    _run.Report.Figures.Add(new Figure("graph engine stack", $"{mode}: step wall / GPU busy (traced steps), n={n}", tracedWall / busy, "x",
                        mode == "layer" ? "<= 1.15x" : mode == "segment" ? "<= 1.05x" : "eager, for comparison"));
                }
            }
        }
    }

    private static List<Layer> BuildStack64(PrefillEngine engine, int h, int pairs)
    {
        var ctx = engine.Context;
        var a = engine.Activation("a", DType.BF16, h);
        var b = engine.Activation("b", DType.BF16, h);
        RandomFill.Create(engine.Device).Uniform(engine.Device.DefaultStream, a, 99, 1f);
        var layers = new List<Layer>();
        for (int i = 0; i < pairs; i++)
        {
            layers.Add(engine.Add(ModelFactory.RandomNorm(ctx, $"norm.{i}", a, b, null, (uint)(1000 + i))));
            layers.Add(engine.Add(ModelFactory.RandomLinear(ctx, $"linear.{i}", b, a, QuantMode.None, Kernels.Quant.GroupSize.PerChannel, (uint)(2000 + i))));
        }
        engine.Device.DefaultStream.Synchronize();
        return layers;
    }

    private static void EagerStep(PrefillEngine engine, List<Layer> layers, int n)
    {
        engine.WriteTokenCount(n);
        foreach (var l in layers) l.Forward(engine.Stream, n);
    }
}
