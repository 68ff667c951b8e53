using GraphEngine.Bench;
using GraphEngine.Kernels.Numerics;
using Spectre.Console;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// `graphengine run`: build the preset with random weights on the device, capture, run prefill steps
/// over the token counts eagerly and through the graphs, check that both give the same output, and
/// print per-step times and the listing.
/// </summary>
public static class RunCommand
{
    public static int Execute(CommandContext ctx)
    {
        var console = ctx.Console;
        var st = ctx.Settings;
        // Bound before the device opens, so a bad size or flag costs no device start-up.
        var options = ModelSession.BindOptions(ctx, st.Preset.MaxTokens);
        st.RequireQuantFits();
        using var device = ctx.OpenDevice();
        if (!st.Json)
        {
            console.Line($"device: {device.Info}");
            console.Line($"preset: {st.Preset}");
            console.Line($"quant: {st.Quant.Label}");
            console.Line($"graphs: {(options.Enabled ? $"{options.Granularity} granularity, sizes {ListingView.Sizes(options.Sizes)}" : "disabled")}");
        }
        using var session = ModelSession.Create(ctx, device, st.Preset, st.Quant, options, quiet: st.Json);
        var engine = session.Engine;
        bool gpu = device.Kind == BackendKind.Cuda;
        int warmup = gpu ? 3 : 1, reps = gpu ? 20 : 3;

        var rows = new List<RunRow>();
        foreach (int n in st.TokenCounts)
        {
            var diff = session.EagerVsGraphDifference(n);
            var eager = Timing.Step(engine.Stream, () => session.EagerStep(n), warmup, reps);
            var graph = Timing.Step(engine.Stream, () => engine.Prefill(n), warmup, reps);
            rows.Add(new RunRow(n, engine.PaddedSize(n), eager, graph, diff));
        }

        var listing = engine.Listing();
        // The graphs must compute what the eager path does, bit for bit (NaN: the replay left poisoned rows).
        // The graphs must compute what the eager path does: bit for bit on the reference backend; on a GPU within
        // the suite's bound (the eager step at n rows may pick another GEMM algorithm than the graph at its padded size).
        var bad = rows.Where(r => !r.Diff.Acceptable(bitExact: device.Kind == BackendKind.Reference)).ToList();
        if (st.Json)
        {
            JsonReport.Write(ctx, "run", device, new
            {
                steps = rows.Select(r => new
                {
                    tokens = r.N, padded = r.Padded, eagerWallMs = r.Eager.WallMs, eagerGpuMs = r.Eager.GpuMs,
                    graphWallMs = r.Graph.WallMs, graphGpuMs = r.Graph.GpuMs, maxAbsDiff = r.Diff.MaxAbs, relativeDiff = double.IsFinite(r.Diff.Relative) ? r.Diff.Relative : (double?)null,
                }),
                listing,
            });
            return bad.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        }

        ListingView.Render(console, listing);
        var t = console.Table($"prefill steps (median of {reps} after {warmup} warm-up)");
        foreach (var c in new[] { "n", "graph size", "eager wall ms", "eager GPU ms", "graph wall ms", "graph GPU ms", "eager / graph", "max |graph - eager|" })
            t.AddColumn(new TableColumn(c).RightAligned());
        foreach (var r in rows)
            t.AddRow(r.N.ToString(), r.Padded?.ToString() ?? "eager", F(r.Eager.WallMs), F(r.Eager.GpuMs), F(r.Graph.WallMs), F(r.Graph.GpuMs),
                $"{r.Eager.WallMs / r.Graph.WallMs:F2}x", r.Diff.MaxAbs.ToString("G3", System.Globalization.CultureInfo.InvariantCulture));
        console.Render(t);
        console.Line("GPU ms: CUDA events around the step on the engine's stream (includes time the GPU waited for the host); " +
                     "wall ms: dispatch until the stream is idle. No attention kernel: the presets run the decoder's norms, projections and FFN/MoE.");
        foreach (var r in bad)
            console.Line($"FAIL n={r.N}: graph replay differs from the eager step (max |graph - eager| = " +
                         $"{r.Diff.MaxAbs.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}, relative " +
                         $"{r.Diff.Relative.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)})");
        return bad.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static string F(double v) => v.ToString("F3", System.Globalization.CultureInfo.InvariantCulture);

    private sealed record RunRow(int N, int? Padded, StepTime Eager, StepTime Graph, ReplayDifference Diff);
}

/// <summary>`graphengine list`: capture and print the listing (a table, or --json).</summary>
public static class ListCommand
{
    public static int Execute(CommandContext ctx)
    {
        var st = ctx.Settings;
        // Bound before the device opens, so a bad size or flag costs no device start-up.
        var options = ModelSession.BindOptions(ctx, st.Preset.MaxTokens);
        st.RequireQuantFits();
        using var device = ctx.OpenDevice();
        if (!st.Json)
        {
            ctx.Console.Line($"device: {device.Info}");
            ctx.Console.Line($"preset: {st.Preset}");
            ctx.Console.Line($"quant: {st.Quant.Label}");
        }
        using var session = ModelSession.Create(ctx, device, st.Preset, st.Quant, options, quiet: st.Json);
        var listing = session.Engine.Listing();
        // The listing's own fields at the top level, as `list --json` has always printed them, inside the envelope.
        if (st.Json) JsonReport.Write(ctx, "list", device, listing);
        else ListingView.Render(ctx.Console, listing);
        return ExitCodes.Ok;
    }
}
