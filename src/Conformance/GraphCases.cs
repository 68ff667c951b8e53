using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Conformance;

/// <summary>
/// Conformance cases of the Graph area: the engine's promises, checked on whatever device runs them
/// (the reference backend in CI, the GPU in `graphengine check`).
/// </summary>
public static class GraphCases
{
    /// <summary>The token counts the issue names: ends, neighbours of sizes, and counts between sizes.</summary>
    internal static readonly int[] Counts = { 1, 3, 100, 1000, 2047, 2048 };
    internal const int MaxTokens = 2048;

    public static IEnumerable<ConformanceCase> Cases()
    {
        foreach (var kind in GraphLayerKinds.All)
            foreach (var g in Enum.GetValues<Granularity>())
                yield return new ConformanceCase($"graph/replay-equals-eager/{kind.Kind}/{g}", "graph", d => ReplayEqualsEager(d, kind, g));
        foreach (var g in Enum.GetValues<Granularity>())
            yield return new ConformanceCase($"graph/fallback-reasons/{g}", "graph", d => FallbackReasons(d, g));
        yield return new ConformanceCase("graph/segment-equals-layer", "graph", SegmentEqualsLayer);
        yield return new ConformanceCase("graph/capture-failure-keeps-working", "graph", CaptureFailureKeepsWorking);
        yield return new ConformanceCase("graph/dispose-returns-memory", "graph", DisposeReturnsMemory);
        yield return new ConformanceCase("graph/two-engines-in-parallel", "graph", TwoEnginesInParallel);
    }

    /// <summary>Three layers of one kind at the kind's stack widths (odd by default).</summary>
    internal static List<StackLayer> StackOf(GraphLayerFactory kind)
    {
        var w = kind.StackWidths;
        return new List<StackLayer>
        {
            new($"{kind.Kind}.0", kind.Create, w[1]),
            new($"{kind.Kind}.1", kind.Create, w[2]),
            new($"{kind.Kind}.2", kind.Create, w[3]),
        };
    }

    /// <summary>Input width of the mixed stacks.</summary>
    internal const long InWidth = 19;

    /// <summary>Every captured size and the counts between them.</summary>
    internal static int[] CountsFor(IReadOnlyList<int> sizes, int maxTokens) =>
        sizes.Concat(Counts).Where(n => n <= maxTokens).Distinct().Order().ToArray();

    /// <summary>
    /// Replay at bucket(n) must equal the same layers run eagerly at that padded size bit for bit (same
    /// kernels, same shapes, same addresses); and equal the engine's eager path at n, which on the GPU may
    /// pick another GEMM algorithm for the other row count.
    /// </summary>
    private static CaseResult ReplayEqualsEager(Device device, GraphLayerFactory kind, Granularity granularity)
    {
        var options = new BlockWiseGraphOptions { Granularity = granularity };
        using var stack = GraphStack.Build(device, options, MaxTokens, kind.DType, kind.StackWidths[0], StackOf(kind));
        var report = stack.Engine.Capture();
        var parts = new List<CaseResult>
        {
            Checks.True(report.FailedLayers.Count == 0, $"capture failures: [{string.Join(", ", report.FailedLayers)}]"),
            Checks.True(report.Graphs == stack.Engine.Sizes.Count * (granularity == Granularity.Layer ? 3 : 1),
                $"{report.Graphs} graphs for {stack.Engine.Sizes.Count} sizes ({granularity})"),
        };
        foreach (int n in CountsFor(stack.Engine.Sizes, MaxTokens))
        {
            var input = stack.RandomInput(n, seed: n);
            var replay = stack.Prefill(n, input);
            int padded = stack.Engine.PaddedSize(n)!.Value;
            var eagerPadded = stack.EagerAt(n, padded, input);
            var eagerN = stack.EagerAt(n, n, input);
            parts.Add(Finite($"n={n} replay", replay));
            parts.Add(Checks.BitEqual($"n={n} replay@{padded} vs eager@{padded}", eagerPadded, replay));
            parts.Add(SameAsEager($"n={n} replay@{padded} vs eager@{n}", device, eagerN, replay));
        }
        var listing = stack.Engine.Listing();
        parts.Add(Checks.True(listing.Layers.All(l => l.Path == "graph" && l.EagerRuns == 0),
            $"listing: every layer on the graph path with no eager runs ({string.Join(", ", listing.Layers.Select(l => $"{l.Name}:{l.Path}/{l.EagerRuns}"))})"));
        return Only(parts);
    }

    /// <summary>
    /// A stack that produces every fallback reason: excluded by config, not capturable, capture failed,
    /// n above the largest size, and (in a second engine) graphs disabled. Output still equals the eager path.
    /// </summary>
    private static CaseResult FallbackReasons(Device device, Granularity granularity)
    {
        const int maxTokens = 256;
        var options = new BlockWiseGraphOptions { Granularity = granularity, Sizes = new[] { 1, 4, 16, 64 }, Exclude = new[] { "skip.*" } };
        var spec = MixedStack();
        using var graphs = GraphStack.Build(device, options, maxTokens, DType.BF16, InWidth, spec);
        using var eager = GraphStack.Build(device, new BlockWiseGraphOptions { Enabled = false }, maxTokens, DType.BF16, InWidth, spec);
        var report = graphs.Engine.Capture();
        eager.Engine.Capture();
        var parts = new List<CaseResult>
        {
            Checks.True(report.FailedLayers.SequenceEqual(new[] { "fails" }), $"failed layers [{string.Join(", ", report.FailedLayers)}], expected [fails]"),
        };
        foreach (int n in new[] { 1, 3, 50, 64, 65, 100, 256 })
        {
            var input = graphs.RandomInput(n, seed: 7 * n);
            var a = graphs.Prefill(n, input);
            var b = eager.Prefill(n, input);
            parts.Add(Finite($"n={n}", a));
            parts.Add(SameAsEager($"n={n} graphs vs graphs disabled", device, b, a));
        }
        var l = graphs.Engine.Listing().Layers.ToDictionary(x => x.Name);
        parts.Add(Reason(l["skip.copy"], FallbackKind.Excluded, "skip.*"));
        parts.Add(Reason(l["host"], FallbackKind.NotCapturable, HostPlannedCopyLayer.Reason));
        parts.Add(Reason(l["fails"], FallbackKind.CaptureFailed, FailsWhileCapturingLayer.Message));
        parts.Add(Checks.True(l["gemm.0"].Path == "graph" && l["gemm.0"].EagerRunsAboveLargest == 3 && l["gemm.0"].Replays == 4,
            $"gemm.0: path {l["gemm.0"].Path}, {l["gemm.0"].Replays} replays, {l["gemm.0"].EagerRunsAboveLargest} eager runs above the largest size (expected graph, 4, 3)"));
        parts.Add(Checks.True(graphs.Engine.Listing().StepsAboveLargestSize == 3, "3 steps above the largest size 64 counted"));
        foreach (var x in eager.Engine.Listing().Layers)
            parts.Add(Reason(x, FallbackKind.GraphsDisabled, "disabled"));
        return Only(parts);
    }

    /// <summary>gemm, excluded copy, gemm, not-capturable copy, gemm, capture-failing gemm, gemm.</summary>
    internal static List<StackLayer> MixedStack()
    {
        var gemm = GraphLayerKinds.All.First(k => k.Kind == "gemm/bf16").Create;
        return new List<StackLayer>
        {
            new("gemm.0", gemm, 40),
            new("skip.copy", (c, n, i, o) => new CopyCaseLayer(c, n, i, o), 40),
            new("gemm.1", gemm, 33),
            new("host", (c, n, i, o) => new HostPlannedCopyLayer(c, n, i, o), 33),
            new("gemm.2", gemm, 24),
            new("gemm.3", gemm, 24),
            new("fails", (c, n, i, o) => new FailsWhileCapturingLayer(c, n, i, o), 31),
            new("gemm.4", gemm, 17),
        };
    }

    /// <summary>Segment graphs run the same kernels at the same shapes as per-layer graphs: bit for bit.</summary>
    private static CaseResult SegmentEqualsLayer(Device device)
    {
        const int maxTokens = 512;
        var sizes = new[] { 1, 2, 8, 32, 128, 512 };
        var spec = MixedStack();
        using var layer = GraphStack.Build(device, new BlockWiseGraphOptions { Sizes = sizes, Exclude = new[] { "skip.*" }, Granularity = Granularity.Layer },
            maxTokens, DType.BF16, InWidth, spec);
        using var seg = GraphStack.Build(device, new BlockWiseGraphOptions { Sizes = sizes, Exclude = new[] { "skip.*" }, Granularity = Granularity.Segment }, maxTokens, DType.BF16, InWidth, spec);
        layer.Engine.Capture();
        seg.Engine.Capture();
        var parts = new List<CaseResult>();
        foreach (int n in CountsFor(sizes, maxTokens).Append(77))
        {
            var input = layer.RandomInput(n, seed: 11 * n);
            var a = layer.Prefill(n, input);
            var b = seg.Prefill(n, input);
            parts.Add(Finite($"n={n}", b));
            parts.Add(Checks.BitEqual($"n={n} segment vs layer", a, b));
        }
        // Eager layers split the stack into [gemm.0] [gemm.1] [gemm.2 gemm.3] [gemm.4]; "fails" splits the last run.
        var segs = seg.Engine.Listing().Segments;
        parts.Add(Checks.True(segs.Select(s => s.LayerCount).SequenceEqual(new[] { 1, 1, 2, 1 }),
            $"segments {string.Join(" ", segs.Select(s => s.Name))} (expected layer counts 1 1 2 1)"));
        return Only(parts);
    }

    /// <summary>A capture that fails leaves an engine that still computes the right answer, and can recapture.</summary>
    private static CaseResult CaptureFailureKeepsWorking(Device device)
    {
        const int maxTokens = 128;
        var gemm = GraphLayerKinds.All.First(k => k.Kind == "gemm/bf16").Create;
        var spec = new List<StackLayer>
        {
            new("gemm.0", gemm, 40),
            new("fails", (c, n, i, o) => new FailsWhileCapturingLayer(c, n, i, o), 40),
            new("gemm.1", gemm, 21),
        };
        var parts = new List<CaseResult>();
        foreach (var g in Enum.GetValues<Granularity>())
        {
            var options = new BlockWiseGraphOptions { Sizes = new[] { 8, 64, 128 }, Granularity = g };
            using var graphs = GraphStack.Build(device, options, maxTokens, DType.BF16, InWidth, spec);
            using var eager = GraphStack.Build(device, new BlockWiseGraphOptions { Enabled = false }, maxTokens, DType.BF16, InWidth, spec);
            for (int round = 0; round < 2; round++)
            {
                var report = round == 0 ? graphs.Engine.Capture() : graphs.Engine.Recapture();
                parts.Add(Checks.True(report.FailedLayers.SequenceEqual(new[] { "fails" }) && report.Graphs == 6,
                    $"{g} round {round}: {report.Graphs} graphs, failed [{string.Join(", ", report.FailedLayers)}] (expected 6, [fails])"));
                foreach (int n in new[] { 5, 64, 100 })
                {
                    var input = graphs.RandomInput(n, seed: n + round);
                    parts.Add(SameAsEager($"{g} round {round} n={n}", device, eager.Prefill(n, input), graphs.Prefill(n, input)));
                }
            }
            parts.Add(Checks.True(!graphs.Engine.Stream.IsCapturing, $"{g}: stream not left capturing"));
        }
        return Only(parts);
    }

    /// <summary>Dispose destroys graphs, layers, activations and the pool: device memory returns to where it was.</summary>
    private static CaseResult DisposeReturnsMemory(Device device)
    {
        long before = device.AllocatedBytes;
        int liveBefore = device.LiveAllocations;
        var stack = GraphStack.Build(device, new BlockWiseGraphOptions { Sizes = new[] { 1, 16, 256 }, Granularity = Granularity.Layer }, 256, DType.BF16,
            InWidth, MixedStack());
        var pool = stack.Engine.Pool;
        stack.Engine.Capture();
        stack.Prefill(100, stack.RandomInput(100, 1));
        bool grew = device.AllocatedBytes > before;
        stack.Dispose();
        return CaseResult.All(
            Checks.True(grew, "the engine allocated device memory while alive"),
            Checks.True(pool.InUseBytes == 0, $"pool in-use after Dispose: {pool.InUseBytes} bytes"),
            Checks.True(device.AllocatedBytes == before, $"device allocated after Dispose: {device.AllocatedBytes} bytes, before the engine: {before}"),
            Checks.True(device.LiveAllocations == liveBefore, $"live allocations after Dispose: {device.LiveAllocations}, before: {liveBefore}"));
    }

    /// <summary>Two engines on two threads, each capturing and replaying on its own stream, match their serial results.</summary>
    private static CaseResult TwoEnginesInParallel(Device device)
    {
        const int maxTokens = 512;
        var kind = GraphLayerKinds.All.First(k => k.Kind == "gemm/bf16");
        var serial = new float[2][][];
        var parallel = new float[2][][];
        int[] counts = { 1, 3, 100, 300, 512 };
        float[][] Run(Granularity g)
        {
            using var stack = GraphStack.Build(device, new BlockWiseGraphOptions { Granularity = g, Sizes = new[] { 1, 4, 64, 512 } },
                maxTokens, kind.DType, kind.StackWidths[0], StackOf(kind));
            stack.Engine.Capture();
            var outs = new float[counts.Length][];
            for (int rep = 0; rep < 3; rep++)
                for (int i = 0; i < counts.Length; i++)
                    outs[i] = stack.Prefill(counts[i], stack.RandomInput(counts[i], counts[i]));
            return outs;
        }
        serial[0] = Run(Granularity.Layer);
        serial[1] = Run(Granularity.Segment);
        var errors = new Exception?[2];
        var threads = new[] { Granularity.Layer, Granularity.Segment }.Select((g, t) => new Thread(() =>
        {
            try { parallel[t] = Run(g); }
            catch (Exception e) { errors[t] = e; }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        var parts = new List<CaseResult>();
        for (int t = 0; t < 2; t++)
        {
            if (errors[t] is { } e) return CaseResult.Fail($"engine {t} threw {e.GetType().Name}: {e.Message}");
            for (int i = 0; i < counts.Length; i++)
                parts.Add(Checks.BitEqual($"engine {t} n={counts[i]} parallel vs serial", serial[t][i], parallel[t][i]));
        }
        return Only(parts);
    }

    // ------------------------------------------------------------------ helpers

    private static CaseResult Finite(string what, float[] values)
    {
        int bad = ErrorMetrics.FirstNonFinite(values);
        return bad < 0 ? CaseResult.Pass($"{what}: all {values.Length} values finite")
                       : CaseResult.Fail($"{what}: element {bad} is {values[bad]} (a padded NaN row leaked, or a row was not written)");
    }

    /// <summary>
    /// Eager at n against replay at a padded size: bit for bit on the reference backend (row-independent
    /// kernels). On the GPU, cuBLASLt may pick another algorithm for another row count, so the bound is
    /// one bf16 rounding step per layer (2^-8 relative, three layers): 1e-2.
    /// </summary>
    private static CaseResult SameAsEager(string what, Device device, float[] eager, float[] replay)
    {
        if (device.Kind == BackendKind.Reference) return Checks.BitEqual(what, eager, replay);
        var expected = eager.Select(v => (double)v).ToArray();
        return Checks.Close(what, expected, replay, 1e-2, "another GEMM algorithm per row count: ~1 bf16 ulp per layer");
    }

    private static CaseResult Reason(LayerListing l, FallbackKind kind, string text) =>
        Checks.True(l.Path == "eager" && l.Fallback == kind && (l.FallbackReason?.Contains(text, StringComparison.Ordinal) ?? false),
            $"{l.Name}: path {l.Path}, {l.Fallback}: \"{l.FallbackReason}\" (expected eager, {kind}, mentioning \"{text}\")");

    /// <summary>All parts must pass; the detail keeps the failures (or a count when all pass) so it stays readable.</summary>
    private static CaseResult Only(List<CaseResult> parts)
    {
        var failed = parts.Where(p => !p.Passed).ToList();
        return failed.Count == 0
            ? CaseResult.Pass($"{parts.Count} checks passed")
            : CaseResult.Fail($"{failed.Count} of {parts.Count} checks failed: {string.Join("; ", failed.Take(8).Select(f => f.Detail))}");
    }
}
