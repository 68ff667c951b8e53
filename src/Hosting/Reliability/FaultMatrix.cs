using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Diagnostics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;
using GraphEngine.Layers.Quantization;
using GraphEngine.Models;

namespace GraphEngine.Hosting.Reliability;

/// <summary>
/// The fault matrix (`graphengine faults` and the tests): every <see cref="FaultPoint"/> made to fail on purpose through
/// a <see cref="FaultPlan"/>, in every layer kind and granularity for the capture points, and the promise checked each
/// time: a capture failure leaves the layer eager with the reason in the listing and results bit-identical to a run
/// without the fault; out of memory during capture or load is an eager fallback or a clean error with device memory
/// back to its level before; a compile failure is a clear error (NVRTC's log on CUDA) with nothing half-built.
/// </summary>
public static class FaultMatrix
{
    /// <summary>Rows of the matrix's engines: small, so the reference backend runs the whole matrix in CI.</summary>
    public const int MaxTokens = 32;

    /// <summary>Captured sizes of the matrix's engines.</summary>
    public static readonly int[] Sizes = { 1, 8, 32 };

    private const string Target = "target";
    private static readonly FaultLayerKind Norm = FaultLayerKind.All.Single(k => k.Name == "rmsnorm");
    private static readonly FaultLayerKind Dense = FaultLayerKind.All.Single(k => k.Name == "linear/bf16");
    private static readonly FaultLayerKind Int8 = FaultLayerKind.All.Single(k => k.Name == "linear/wint8");
    private static readonly FaultLayerKind App = FaultLayerKind.All.Single(k => k.Name == "app/row-copy");

    /// <summary>Every case, in the order `graphengine faults` runs them.</summary>
    public static IReadOnlyList<FaultCase> Cases { get; } = Build().ToArray();

    private static IEnumerable<FaultCase> Build()
    {
        foreach (var kind in FaultLayerKind.All)
            foreach (var g in Enum.GetValues<Granularity>())
                yield return new($"capture/layer/{kind.Name}/{g}", d => CaptureFault(d, kind, g, new FaultRule(FaultPoint.LayerCapture, Target)));
        foreach (var g in Enum.GetValues<Granularity>())
        {
            yield return new($"capture/begin/{g}", d => CaptureFault(d, Int8, g, new FaultRule(FaultPoint.CaptureBegin, Target)));
            yield return new($"capture/end/{g}", d => CaptureFault(d, Int8, g, new FaultRule(FaultPoint.CaptureEnd, Target)));
            yield return new($"oom/capture/{g}", d => OutOfMemoryDuringCapture(d, g));
        }
        foreach (var which in new[] { "first", "middle", "last" })
            yield return new($"oom/load/{which}-allocation", d => OutOfMemoryDuringLoad(d, which));
        foreach (var mode in new[] { QuantMode.None, QuantMode.WInt8 })
            yield return new($"upload/load/linear-{mode.Label()}", d => UploadFailsDuringLoad(d, mode));
        foreach (var kind in FaultLayerKind.All.Where(k => k.CompileSubject is not null))
            yield return new($"compile/{kind.Name}", d => CompileFails(d, kind));
        yield return new("compile/model-build", CompileFailsDuringModelBuild);
    }

    /// <summary>Runs <paramref name="c"/> on <paramref name="device"/>; an exception out of the case is a fault not survived.</summary>
    public static FaultOutcome Run(FaultCase c, Device device)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(device);
        try
        {
            return c.Run(device);
        }
        catch (Exception e)
        {
            return new FaultOutcome(false, $"{e.GetType().Name} escaped: {e.Message}");
        }
    }

    /// <summary>
    /// Token counts compared with the fault-free run. On CUDA only the captured sizes: there the eager layer runs at
    /// the same row count its graph was captured at, so both use the same GEMM algorithm and must agree bit for bit
    /// (at other counts cuBLASLt may pick another algorithm, which is a rounding difference, not a fault). The reference
    /// backend computes each row alone, so counts between sizes must agree bit for bit too.
    /// </summary>
    private static int[] Counts(Device device) =>
        device.Kind == BackendKind.Cuda ? Sizes : Sizes.Concat(new[] { 5, 20 }).Order().ToArray();

    private static BlockWiseGraphOptions Options(Granularity g) => new() { Sizes = Sizes, Granularity = g };

    private static (string, FaultLayerKind)[] Around(FaultLayerKind target) =>
        new[] { ("pre", Norm), (Target, target), ("post", Dense) };

    /// <summary>A capture fault in the middle layer of three: it alone turns eager, with the reason, and results do not change.</summary>
    private static FaultOutcome CaptureFault(Device device, FaultLayerKind kind, Granularity g, FaultRule rule)
    {
        var spec = Around(kind);
        using var clean = FaultStack.Build(device, Options(g), MaxTokens, spec);
        clean.Engine.Capture();
        using var faulted = FaultStack.Build(device, Options(g), MaxTokens, spec);
        var plan = new FaultPlan(rule);
        CaptureReport report;
        using (plan.Arm(device)) report = faulted.Engine.Capture();

        var listing = faulted.Engine.Listing();
        var target = listing.Layers.Single(l => l.Name == Target);
        var parts = new List<FaultOutcome>
        {
            FaultOutcome.Check(plan.Fired.Count > 0, $"{plan.Fired.Count} fault(s) fired ({rule})"),
            FaultOutcome.Check(target.Path == "eager" && target.Fallback == FallbackKind.CaptureFailed
                               && target.FallbackReason?.Contains($"injected fault at {rule.Point}") == true,
                $"{Target} {target.Path} ({target.Fallback}: {target.FallbackReason})"),
            FaultOutcome.Check(listing.Layers.Where(l => l.Name != Target).All(l => l.Path == "graph"),
                $"other layers: {string.Join(", ", listing.Layers.Where(l => l.Name != Target).Select(l => $"{l.Name} {l.Path}"))}"),
            FaultOutcome.Check(report.FailedLayers.SequenceEqual(new[] { Target }), $"failed layers [{string.Join(", ", report.FailedLayers)}]"),
            FaultOutcome.Check(!faulted.Engine.Stream.IsCapturing, "stream not left capturing"),
        };
        parts.Add(SameResults(device, clean, faulted));
        return FaultOutcome.All(parts);
    }

    /// <summary>Bit-equal outputs of the two stacks at every compared count.</summary>
    private static FaultOutcome SameResults(Device device, FaultStack expected, FaultStack actual)
    {
        var counts = Counts(device);
        foreach (int n in counts)
        {
            var want = expected.Prefill(n, seed: n);
            var got = actual.Prefill(n, seed: n);
            for (int i = 0; i < want.Length; i++)
                if (BitConverter.SingleToInt32Bits(want[i]) != BitConverter.SingleToInt32Bits(got[i]))
                    return new FaultOutcome(false, $"n={n}: element {i} is {got[i]}, {want[i]} without the fault");
        }
        return new FaultOutcome(true, $"results bit-identical to the fault-free run at n={string.Join(",", counts)}");
    }

    /// <summary>
    /// Every unit's instantiation runs out of memory: every layer falls back to eager with the reason, results do not
    /// change, and device memory is where it was before the capture (and before the engine once it is disposed).
    /// </summary>
    private static FaultOutcome OutOfMemoryDuringCapture(Device device, Granularity g)
    {
        var spec = Around(Int8);
        using var clean = FaultStack.Build(device, Options(g), MaxTokens, spec);
        clean.Engine.Capture();
        var beforeEngine = DeviceMemoryLevel.Of(device);
        var parts = new List<FaultOutcome>();
        using (var faulted = FaultStack.Build(device, Options(g), MaxTokens, spec))
        {
            // Eager steps at every size first, so what a first step allocates for good (cuBLASLt's per-stream
            // workspace) is in the level before the capture.
            foreach (int s in Sizes) faulted.Prefill(s, seed: s);
            var before = DeviceMemoryLevel.Of(device, faulted.Engine.Pool);
            var plan = new FaultPlan(new FaultRule(FaultPoint.CaptureEnd, Effect: FaultEffect.OutOfMemory));
            CaptureReport report;
            using (plan.Arm(device)) report = faulted.Engine.Capture();
            var after = DeviceMemoryLevel.Of(device, faulted.Engine.Pool);
            var listing = faulted.Engine.Listing();
            parts.Add(FaultOutcome.Check(plan.Fired.Count > 0 && report.Graphs == 0, $"{plan.Fired.Count} instantiations ran out of memory, {report.Graphs} graphs kept"));
            parts.Add(FaultOutcome.Check(listing.Layers.All(l => l.Path == "eager" && l.Fallback == FallbackKind.CaptureFailed
                                                                && l.FallbackReason?.Contains(nameof(OutOfMemoryException)) == true),
                $"layers: {string.Join(", ", listing.Layers.Select(l => $"{l.Name} {l.Path} ({l.FallbackReason})"))}"));
            parts.Add(FaultOutcome.Check(after.DifferenceFrom(before) is null, $"memory after the capture: {after.DifferenceFrom(before) ?? "as before"}"));
            parts.Add(SameResults(device, clean, faulted));
        }
        var afterEngine = DeviceMemoryLevel.Of(device);
        parts.Add(FaultOutcome.Check(afterEngine.DifferenceFrom(beforeEngine) is null, $"memory after Dispose: {afterEngine.DifferenceFrom(beforeEngine) ?? "as before the engine"}"));
        return FaultOutcome.All(parts);
    }

    /// <summary>An engine for the tiny preset with the matrix's sizes.</summary>
    private static PrefillEngine TinyEngine(Device device) => new(device, Options(Granularity.Segment), MaxTokens);

    private static BuiltModel BuildTiny(PrefillEngine engine) => ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized, seed: 1);

    /// <summary>Rows [0, n) of the tiny model's output after one captured step from seeded inputs.</summary>
    private static float[] TinyStep(PrefillEngine engine, BuiltModel model, int n)
    {
        if (!engine.IsCaptured) engine.Capture();
        model.RandomizeInputs(7);
        engine.Prefill(n);
        engine.Stream.Synchronize();
        return Kernels.Numerics.TensorHostExtensions.DownloadFloats(model.Output.SliceRows(0, n));
    }

    /// <summary>
    /// The tiny model's build runs out of memory at its first, middle or last allocation: a clean OutOfMemoryException,
    /// no layer left in the engine, memory back to its level before; the same engine then builds and runs the model with
    /// results bit-identical to a fresh engine's.
    /// </summary>
    private static FaultOutcome OutOfMemoryDuringLoad(Device device, string which)
    {
        int allocations;
        float[] expected;
        var counter = new FaultPlan();
        using (var fresh = TinyEngine(device))
        {
            BuiltModel model;
            using (counter.Arm(device)) model = BuildTiny(fresh);
            allocations = counter.Calls(FaultPoint.Allocate);
            expected = TinyStep(fresh, model, MaxTokens);
        }
        if (allocations == 0) return new FaultOutcome(false, "the tiny model's build allocated nothing through Device.Allocate; no fault to inject");
        int skip = which switch { "first" => 0, "middle" => allocations / 2, _ => allocations - 1 };

        using var engine = TinyEngine(device);
        var before = DeviceMemoryLevel.Of(device, engine.Pool);
        var plan = new FaultPlan(new FaultRule(FaultPoint.Allocate, Skip: skip, Times: 1, Effect: FaultEffect.OutOfMemory));
        var error = Attempt(plan, device, () => BuildTiny(engine));
        var after = DeviceMemoryLevel.Of(device, engine.Pool);
        var parts = new List<FaultOutcome>
        {
            FaultOutcome.Check(plan.Fired.Count == 1, $"allocation {skip + 1} of {allocations} failed ({plan.Fired.Count} fired)"),
            FaultOutcome.Check(Chain(error).Any(e => e is OutOfMemoryException), $"error: {Describe(error)}"),
            FaultOutcome.Check(engine.Layers.Count == 0, $"{engine.Layers.Count} layers left in the engine"),
            FaultOutcome.Check(after.DifferenceFrom(before) is null, $"memory: {after.DifferenceFrom(before) ?? "back to the level before"}"),
        };
        var model2 = BuildTiny(engine);
        parts.Add(BitEqual("the same engine then builds and runs the model", expected, TinyStep(engine, model2, MaxTokens)));
        return FaultOutcome.All(parts);
    }

    /// <summary>A Linear whose host weights fail to upload: a clean error, nothing allocated left, and the layer builds afterwards.</summary>
    private static FaultOutcome UploadFailsDuringLoad(Device device, QuantMode mode)
    {
        using var stack = FaultStack.Build(device, Options(Granularity.Segment), MaxTokens, new[] { ("pre", App) });
        var engine = stack.Engine;
        var input = engine.Layers[0].Output;
        var output = engine.Activation("target.out", DType.BF16, FaultStack.Width);
        var weights = new float[FaultStack.Width * FaultStack.Width];
        var rng = new System.Random(3);
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(rng.NextDouble() - 0.5) / 8;
        Linear Make() => Linear.Create(engine.Context, Target, input, output, mode, GroupSize.PerChannel,
            LinearWeights.FromHost((int)FaultStack.Width, (int)FaultStack.Width, weights));

        var before = DeviceMemoryLevel.Of(device, engine.Pool);
        var plan = new FaultPlan(new FaultRule(FaultPoint.Upload, Times: 1));
        var error = Attempt(plan, device, () => Make().Dispose());
        var after = DeviceMemoryLevel.Of(device, engine.Pool);
        var parts = new List<FaultOutcome>
        {
            FaultOutcome.Check(plan.Fired.Count == 1, $"{plan.Fired.Count} upload(s) failed of {plan.Calls(FaultPoint.Upload)}"),
            FaultOutcome.Check(Chain(error).Any(e => e is InjectedFaultException), $"error: {Describe(error)}"),
            FaultOutcome.Check(after.DifferenceFrom(before) is null, $"memory: {after.DifferenceFrom(before) ?? "back to the level before"}"),
        };
        var layer = engine.Add(Make());
        engine.Capture();
        engine.Prefill(MaxTokens);
        engine.Stream.Synchronize();
        var y = Kernels.Numerics.TensorHostExtensions.DownloadFloats(layer.Output.SliceRows(0, MaxTokens));
        parts.Add(FaultOutcome.Check(engine.Listing().Layers.All(l => l.Path == "graph") && y.All(float.IsFinite),
            "the layer then builds, captures and runs (finite output)"));
        return FaultOutcome.All(parts);
    }

    /// <summary>
    /// A kernel of the kind fails to compile while the layer is built (or, for kernels fetched at first use, while it is
    /// captured): a clear error naming the kernel, with NVRTC's log on CUDA; a layer whose constructor failed is not in
    /// the engine and left no memory behind; an engine whose warm-up failed is left uncaptured. Without the fault the same
    /// engine then gives the fault-free results.
    /// </summary>
    private static FaultOutcome CompileFails(Device device, FaultLayerKind kind)
    {
        string subject = kind.CompileSubjectOn(device)!;
        var spec = new[] { ("pre", App), (Target, kind) };
        using var clean = FaultStack.Build(device, Options(Granularity.Segment), MaxTokens, spec);
        clean.Engine.Capture();

        using var stack = FaultStack.Build(device, Options(Granularity.Segment), MaxTokens, new[] { ("pre", App) });
        var engine = stack.Engine;
        var before = DeviceMemoryLevel.Of(device, engine.Pool);
        var plan = new FaultPlan(new FaultRule(FaultPoint.Compile, subject));
        bool built = false;
        var error = Attempt(plan, device, () =>
        {
            stack.Append(Target, kind);
            built = true;
            engine.Capture();
        });
        var parts = new List<FaultOutcome>
        {
            FaultOutcome.Check(plan.Fired.Count > 0, $"{plan.Fired.Count} compile(s) of '{subject}' failed"),
            FaultOutcome.Check(error is not null && Chain(error).Any(e => e.Message.Contains(subject, StringComparison.OrdinalIgnoreCase)),
                $"error names '{subject}': {Describe(error)}"),
        };
        if (device is CudaDevice)
        {
            var nvrtc = Chain(error).OfType<NvrtcException>().FirstOrDefault();
            parts.Add(FaultOutcome.Check(nvrtc is not null && nvrtc.Log.Contains("#error") && error!.Message.Contains(nvrtc.Log.Trim().Split('\n')[0].Trim()),
                $"NVRTC's log in the error: {(nvrtc is null ? "no NvrtcException" : InputText.Quote(nvrtc.Log))}"));
        }
        if (!built)
        {
            var after = DeviceMemoryLevel.Of(device, engine.Pool);
            parts.Add(FaultOutcome.Check(engine.Layers.Count == 1, $"the layer's constructor failed; {engine.Layers.Count - 1} half-built layer(s) in the engine"));
            parts.Add(FaultOutcome.Check(after.DifferenceFrom(before) is null, $"memory: {after.DifferenceFrom(before) ?? "back to the level before"}"));
            stack.Append(Target, kind);
        }
        else
        {
            parts.Add(FaultOutcome.Check(!engine.IsCaptured && !engine.Stream.IsCapturing && engine.Listing().Graphs == 0,
                "the warm-up failed: engine left uncaptured, no graph, stream not capturing"));
        }
        engine.Capture();
        parts.Add(SameResults(device, clean, stack));
        return FaultOutcome.All(parts);
    }

    /// <summary>
    /// The tiny model's second RMSNorm fails to compile while the model is built: the build is rolled back (no layer left,
    /// memory back), and the same engine then builds the model.
    /// </summary>
    private static FaultOutcome CompileFailsDuringModelBuild(Device device)
    {
        string subject = Norm.CompileSubjectOn(device)!;
        using var engine = TinyEngine(device);
        var before = DeviceMemoryLevel.Of(device, engine.Pool);
        var plan = new FaultPlan(new FaultRule(FaultPoint.Compile, subject, Skip: 1, Times: 1));
        var error = Attempt(plan, device, () => BuildTiny(engine));
        var after = DeviceMemoryLevel.Of(device, engine.Pool);
        var parts = new List<FaultOutcome>
        {
            FaultOutcome.Check(plan.Fired.Count == 1 && error is not null, $"the second '{subject}' compile failed: {Describe(error)}"),
            FaultOutcome.Check(engine.Layers.Count == 0, $"{engine.Layers.Count} layers left in the engine"),
            FaultOutcome.Check(after.DifferenceFrom(before) is null, $"memory: {after.DifferenceFrom(before) ?? "back to the level before"}"),
        };
        var model = BuildTiny(engine);
        parts.Add(FaultOutcome.Check(TinyStep(engine, model, MaxTokens).All(float.IsFinite), "the same engine then builds and runs the model"));
        return FaultOutcome.All(parts);
    }

    private static Exception? Attempt(FaultPlan plan, Device device, Action action)
    {
        using var armed = plan.Arm(device);
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static IEnumerable<Exception> Chain(Exception? e)
    {
        for (; e is not null; e = e.InnerException) yield return e;
    }

    private static string Describe(Exception? e) => e is null ? "none thrown" : InputText.Quote($"{e.GetType().Name}: {e.Message}");

    private static FaultOutcome BitEqual(string what, float[] expected, float[] actual)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                return new FaultOutcome(false, $"{what}: element {i} is {actual[i]}, expected {expected[i]}");
        return new FaultOutcome(expected.Length == actual.Length, $"{what}: bit-identical ({expected.Length} values)");
    }
}
