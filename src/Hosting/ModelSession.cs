using GraphEngine.Graph;
using GraphEngine.Models;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace GraphEngine.Hosting;

/// <summary>A preset built into its own engine, captured, ready for steps.</summary>
public sealed class ModelSession : IDisposable
{
    private ModelSession(PrefillEngine engine, BuiltModel model)
    {
        Engine = engine;
        Model = model;
    }

    public PrefillEngine Engine { get; }
    public BuiltModel Model { get; }
    public CaptureReport? Capture { get; private set; }
    public double BuildMs { get; private set; }

    /// <summary>The graph options from configuration, bound strictly (bad values are bad input).</summary>
    public static BlockWiseGraphOptions BindOptions(CommandContext ctx, int maxTokens)
    {
        try
        {
            return EngineConfiguration.BindOptions(ctx.Config, maxTokens);
        }
        catch (EngineConfigurationException e)
        {
            throw new UsageException(e.Message, e);
        }
    }

    public static BlockWiseGraphOptions With(BlockWiseGraphOptions o, bool? enabled = null, Granularity? granularity = null, bool? debug = null) => new()
    {
        Enabled = enabled ?? o.Enabled,
        Sizes = o.Sizes,
        Debug = debug ?? o.Debug,
        Exclude = o.Exclude,
        Granularity = granularity ?? o.Granularity,
        MaxSegmentLayers = o.MaxSegmentLayers,
    };

    /// <summary>Builds the preset into a new engine and captures it (a progress bar on a terminal).</summary>
    public static ModelSession Create(CommandContext ctx, Device device, ModelPreset preset, QuantConfig quant,
        BlockWiseGraphOptions options, bool quiet = false)
    {
        // The reference backend keeps weights in host memory and computes them in managed code: a
        // full-size preset would take tens of GB and hours, so say so instead of starting.
        const long referenceLimit = 4L << 30;
        if (device.Kind == BackendKind.Reference && preset.Bf16WeightBytes > referenceLimit)
            throw new UsageException($"preset '{preset.Name}' has {preset.Bf16WeightBytes / 1e9:F1} GB of weights; the CPU reference backend " +
                                     $"runs presets up to {referenceLimit >> 30} GiB (use --preset tiny, or a GPU with --backend cuda)");
        var logger = ctx.LoggerFactory.CreateLogger("GraphEngine.Engine");
        var engine = new PrefillEngine(device, options, preset.MaxTokens, logger);
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var model = ModelFactory.Build(engine, preset, quant, seed: 1);
            var session = new ModelSession(engine, model) { BuildMs = sw.Elapsed.TotalMilliseconds };
            if (options.Enabled) session.Capture = CaptureWithProgress(ctx.Console, engine, quiet);
            return session;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    private static CaptureReport CaptureWithProgress(CliConsole console, PrefillEngine engine, bool quiet)
    {
        if (!console.Interactive || quiet)
        {
            var r = engine.Capture();
            if (!quiet)
                console.Line($"captured {r.Graphs} graphs in {r.ElapsedMs:F0} ms (capture {r.CaptureMs:F0} ms, instantiate {r.InstantiateMs:F0} ms, graph memory {Mib(r.GraphBytes)})");
            return r;
        }
        CaptureReport? report = null;
        console.Ui.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(p =>
            {
                var task = p.AddTask("capture", maxValue: 1);
                report = engine.Capture(new SyncProgress<CaptureProgress>(c =>
                {
                    task.MaxValue = Math.Max(1, c.Total);
                    task.Value = c.Done;
                    task.Description = $"capture {Markup.Escape(c.Unit)} @ {c.Size}";
                }));
                task.Value = task.MaxValue;
                task.Description = "capture";
            });
        console.Line($"captured {report!.Graphs} graphs in {report.ElapsedMs:F0} ms (capture {report.CaptureMs:F0} ms, instantiate {report.InstantiateMs:F0} ms, graph memory {Mib(report.GraphBytes)})");
        return report;
    }

    /// <summary>One step with every layer eager, on the engine's stream: what the engine does with graphs off.
    /// Writes the device token count itself, as Prefill does.</summary>
    public void EagerStep(int n)
    {
        var s = Engine.Stream;
        s.Fill32Async(Engine.Context.TokenCount, (uint)n, 1);
        foreach (var layer in Model.Layers) layer.Forward(s, n);
    }

    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";

    public void Dispose() => Engine.Dispose();

    /// <summary>IProgress that calls back on the reporting thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
