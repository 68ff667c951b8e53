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
        using var device = ctx.OpenDevice();
        var options = ModelSession.BindOptions(ctx, st.Preset.MaxTokens);
        if (!st.Json)
        {
            console.Line($"device: {device.Info}");
            console.Line($"preset: {st.Preset}; quant: {st.Quant.Label}");
            console.Line($"graphs: {(options.Enabled ? $"{options.Granularity} granularity, sizes {ListingView.Sizes(options.Sizes)}" : "disabled")}");
        }
        using var session = ModelSession.Create(ctx, device, st.Preset, st.Quant, options, quiet: st.Json);
        var engine = session.Engine;
        bool gpu = device.Kind == BackendKind.Cuda;
        int warmup = gpu ? 3 : 1, reps = gpu ? 20 : 3;

        var rows = new List<RunRow>();
        foreach (int n in st.TokenCounts)
        {
            float diff = EagerVsGraphDifference(session, n);
            var eager = Timing.Step(engine.Stream, () => session.EagerStep(n), warmup, reps);
            var graph = Timing.Step(engine.Stream, () => engine.Prefill(n), warmup, reps);
            rows.Add(new RunRow(n, engine.PaddedSize(n), eager, graph, diff));
        }

        var listing = engine.Listing();
        if (st.Json)
        {
            JsonReport.Write(ctx, "run", device, new
            {
                steps = rows.Select(r => new
                {
                    tokens = r.N, padded = r.Padded, eagerWallMs = r.Eager.WallMs, eagerGpuMs = r.Eager.GpuMs,
                    graphWallMs = r.Graph.WallMs, graphGpuMs = r.Graph.GpuMs, maxAbsDiff = r.MaxAbsDiff,
                }),
                listing,
            });
            return ExitCodes.Ok;
        }

        ListingView.Render(console, listing);
        var t = console.Table($"prefill steps (median of {reps} after {warmup} warm-up)");
        foreach (var c in new[] { "n", "graph size", "eager wall ms", "eager GPU ms", "graph wall ms", "graph GPU ms", "eager / graph", "max |graph - eager|" })
            t.AddColumn(new TableColumn(c).RightAligned());
        foreach (var r in rows)
            t.AddRow(r.N.ToString(), r.Padded?.ToString() ?? "eager", F(r.Eager.WallMs), F(r.Eager.GpuMs), F(r.Graph.WallMs), F(r.Graph.GpuMs),
                $"{r.Eager.WallMs / r.Graph.WallMs:F2}x", r.MaxAbsDiff.ToString("G3", System.Globalization.CultureInfo.InvariantCulture));
        console.Render(t);
        console.Line("GPU ms: CUDA events around the step on the engine's stream (includes time the GPU waited for the host); " +
                     "wall ms: dispatch until the stream is idle. No attention kernel: the presets run the decoder's norms, projections and FFN/MoE.");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Runs one step eagerly and one through the graphs from the same input and returns the largest
    /// difference of the outputs' rows [0, n): the captured path must compute what the eager one does.
    /// </summary>
    private static float EagerVsGraphDifference(ModelSession s, int n)
    {
        var m = s.Model;
        m.RandomizeInputs(1234);
        s.EagerStep(n);
        s.Engine.Stream.Synchronize();
        var eager = m.Output.SliceRows(0, n).DownloadFloats();
        m.RandomizeInputs(1234);
        s.Engine.Prefill(n);
        s.Engine.Stream.Synchronize();
        var graph = m.Output.SliceRows(0, n).DownloadFloats();
        float max = 0;
        for (int i = 0; i < eager.Length; i++)
        {
            float d = MathF.Abs(eager[i] - graph[i]);
            if (float.IsNaN(d)) return float.NaN;
            max = MathF.Max(max, d);
        }
        return max;
    }

    private static string F(double v) => v.ToString("F3", System.Globalization.CultureInfo.InvariantCulture);

    private sealed record RunRow(int N, int? Padded, StepTime Eager, StepTime Graph, float MaxAbsDiff);
}

/// <summary>`graphengine list`: capture and print the listing (a table, or --json).</summary>
public static class ListCommand
{
    public static int Execute(CommandContext ctx)
    {
        var st = ctx.Settings;
        using var device = ctx.OpenDevice();
        var options = ModelSession.BindOptions(ctx, st.Preset.MaxTokens);
        if (!st.Json) ctx.Console.Line($"device: {device.Info}; preset: {st.Preset}; quant: {st.Quant.Label}");
        using var session = ModelSession.Create(ctx, device, st.Preset, st.Quant, options, quiet: st.Json);
        var listing = session.Engine.Listing();
        // The listing's own fields at the top level, as `list --json` has always printed them, inside the envelope.
        if (st.Json) JsonReport.Write(ctx, "list", device, listing);
        else ListingView.Render(ctx.Console, listing);
        return ExitCodes.Ok;
    }
}
