using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using GraphEngine.Models;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using Spectre.Console;

namespace GraphEngine.Hosting;

/// <summary>A preset built into its own engine, captured, ready for steps.</summary>
public sealed class ModelSession : IDisposable
{
    private ModelSession(PrefillEngine engine, BuiltModel model, LoadedModel? loaded = null)
    {
        Engine = engine;
        Model = model;
        Loaded = loaded;
    }

    /// <summary>The checkpoint the session was built from (--model), else null (a preset with random weights).</summary>
    public LoadedModel? Loaded { get; }

    /// <summary>The session's engine (owned; disposed with the session).</summary>
    public PrefillEngine Engine { get; }
    /// <summary>The model's layers and buffers, built into <see cref="Engine"/>.</summary>
    public BuiltModel Model { get; }
    /// <summary>The capture's report, or null when graphs are disabled.</summary>
    public CaptureReport? Capture { get; private set; }
    /// <summary>Milliseconds spent building the model (weights generated or loaded), before capture.</summary>
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

    /// <summary>A copy of <paramref name="o"/> with <paramref name="enabled"/>, <paramref name="granularity"/> and <paramref name="debug"/> replaced where given.</summary>
    public static BlockWiseGraphOptions With(BlockWiseGraphOptions o, bool? enabled = null, Granularity? granularity = null, bool? debug = null) => new()
    {
        Enabled = enabled ?? o.Enabled,
        Sizes = o.Sizes,
        Debug = debug ?? o.Debug,
        Exclude = o.Exclude,
        Granularity = granularity ?? o.Granularity,
        MaxSegmentLayers = o.MaxSegmentLayers,
    };

    /// <summary>
    /// The reference backend keeps weights in host memory and computes them in managed code: a full-size preset would
    /// take tens of GB and hours, so it is refused (bad input) instead of started.
    /// </summary>
    public static void RequireRunnable(Device device, ModelPreset preset)
    {
        const long referenceLimit = 4L << 30;
        if (device.Kind == BackendKind.Reference && preset.Bf16WeightBytes > referenceLimit)
            throw new UsageException($"preset '{preset.Name}' has {preset.Bf16WeightBytes / 1e9:F1} GB of weights; the CPU reference backend " +
                                     $"runs presets up to {referenceLimit >> 30} GiB (use --preset tiny, or a GPU with --backend cuda)");
    }

    /// <summary>Builds the preset into a new engine and captures it (a progress bar on a terminal).</summary>
    public static ModelSession Create(CommandContext ctx, Device device, ModelPreset preset, QuantConfig quant,
        BlockWiseGraphOptions options, bool quiet = false)
    {
        RequireRunnable(device, preset);
        var logger = ctx.LoggerFactory.CreateLogger("GraphEngine.Engine");
        var engine = new PrefillEngine(device, options, preset.MaxTokens, logger);
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            ModelSession session;
            if (ctx.Settings.ModelDirectory is { } dir)
            {
                var loaded = LoadCheckpoint(ctx.Console, engine, dir, quant, quiet);
                session = new ModelSession(engine, loaded.AsBuilt(preset, quant), loaded) { BuildMs = sw.Elapsed.TotalMilliseconds };
                // A checkpoint's weights are real; the inputs still need values before a first step.
                session.Model.RandomizeInputs(1);
            }
            else
            {
                var model = ModelFactory.Build(engine, preset, quant, seed: 1);
                session = new ModelSession(engine, model) { BuildMs = sw.Elapsed.TotalMilliseconds };
            }
            if (options.Enabled) session.Capture = CaptureWithProgress(ctx.Console, engine, quiet);
            return session;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the checkpoint with a bar (bytes uploaded, the tensor, GB/s) on a terminal and one summary line
    /// elsewhere. A checkpoint that does not match its config.json is bad input: one line naming the file and tensor.
    /// </summary>
    private static LoadedModel LoadCheckpoint(CliConsole console, PrefillEngine engine, string dir, QuantConfig quant, bool quiet)
    {
        try
        {
            LoadedModel? model = null;
            LoadProgress last = default;
            bool peakReset = HostMemory.ResetPeak();
            long? hostBefore = HostMemory.Resident();
            long deviceBefore = engine.Device.AllocatedBytes;
            if (console.Interactive && !quiet)
            {
                console.Ui.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(p =>
                    {
                        var task = p.AddTask("load", maxValue: 1);
                        model = ModelLoader.Load(engine, dir, quant, new SyncProgress<LoadProgress>(l =>
                        {
                            last = l;
                            task.MaxValue = Math.Max(1, Math.Max(l.LoadBytes, l.TotalBytesDone));
                            task.Value = l.TotalBytesDone;
                            task.Description = $"load {Markup.Escape(l.Tensor)} ({l.GBPerSecond:F2} GB/s)";
                        }));
                        task.Value = task.MaxValue;
                    });
            }
            else
            {
                model = ModelLoader.Load(engine, dir, quant, new SyncProgress<LoadProgress>(l => last = l));
            }
            if (!quiet)
                console.Line($"loaded {model!.Layers.Count} layers, {last.TotalBytesDone / 1e9:F2} GB, from {dir} in " +
                             $"{last.Elapsed.TotalSeconds:F2} s ({last.GBPerSecond:F2} GB/s)" +
                             MemoryText(peakReset, hostBefore, engine.Device.AllocatedBytes - deviceBefore));
            return model!;
        }
        catch (CheckpointException e)
        {
            throw new UsageException($"{e.Message} (from --model)", e);
        }
    }

    /// <summary>"; host peak +X GB over Y GB before, device +Z GB": the peak is only meaningful when it was reset before the load.</summary>
    internal static string MemoryText(bool peakReset, long? hostBefore, long deviceBytes)
    {
        string device = $"device +{deviceBytes / 1e9:F3} GB";
        if (!peakReset || hostBefore is not { } before || HostMemory.Peak() is not { } peak) return $"; {device}";
        return $"; host peak +{Math.Max(0, peak - before) / 1e9:F3} GB over {before / 1e9:F3} GB before, {device}";
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
    public void EagerStep(int n) => ReplayCheck.EagerStep(Model, n);

    /// <summary>The largest |graph − eager| of one step at <paramref name="n"/> (see <see cref="ReplayCheck"/>).</summary>
    public ReplayDifference EagerVsGraphDifference(int n) => ReplayCheck.Compare(Model, n, () => EagerStep(n), () => Engine.Prefill(n));

    /// <paramref name="bytes"/> as mebibytes with one decimal ("12.5 MiB").
    public static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";

    /// <summary>The engine first (it owns the layers), then the checkpoint's activation buffers.</summary>
    public void Dispose()
    {
        Engine.Dispose();
        Loaded?.Dispose();
    }

    /// <summary>IProgress that calls back on the reporting thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
