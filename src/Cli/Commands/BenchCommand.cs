using GraphEngine.Bench;
using GraphEngine.Bench.Reports;
using Spectre.Console;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// `graphengine bench`: ceilings, then the prefill sweep and/or the kernel suite, then (with --torch)
/// the PyTorch peers from the same call; prints the tables and writes bench.json, bench.md, bench.svg.
/// </summary>
public static class BenchCommand
{
    public static int Execute(CommandContext ctx, BenchOptions o)
    {
        var console = ctx.Console;
        if (o.ReadmeTableFrom is { } from) return WriteReadmeTable(ctx, from, o.OutDir);
        bool prefillSuite = o.Suite is BenchSuite.Prefill or BenchSuite.All;
        if (prefillSuite) ctx.Settings.RequireQuantFits();
        using var device = ctx.OpenDevice();
        bool gpu = device.Kind == BackendKind.Cuda;
        // The prefill sweep builds the preset: one too large for the backend is refused before the ceilings take their time.
        if (prefillSuite) ModelSession.RequireRunnable(device, ctx.Settings.Preset);
        var report = new BenchReport
        {
            Device = device.Info.ToString(),
            Provenance = Provenance.For(device),
            Command = "graphengine " + string.Join(" ", ctx.Args),
            Repetitions = o.Repetitions,
            Warmup = o.Warmup,
            HostFigures = !gpu,
            KernelTimingMethod = gpu ? RotatedTimer.Method : HostKernelMethod,
            BusyTimeMethod = gpu ? PrefillSuite.BusyMethod
                : "reference backend: not measured (there are no GPU kernels to trace; busy time comes from CUPTI records on a GPU); figures are the host CPU's.",
        };
        console.Line($"device: {device.Info}; commit {BuildInfo.Describe()}");
        report.Ceilings = CeilingProbe.Measure(device, o.Warmup, o.Repetitions, report.Missing);
        console.Line($"ceilings: {report.Ceilings.Summary()}");

        var torch = new TorchPeers();
        var run = new BenchRun(device, report, o, torch);
        bool prefill = o.Suite is BenchSuite.Prefill or BenchSuite.All;
        Action<string> stepDone = _ => { };
        var kernels = o.Suite is BenchSuite.Kernels or BenchSuite.All ? new KernelSuite(run, console, f => stepDone($"kernels: {f}")) : null;
        void Suites()
        {
            if (prefill)
            {
                new PrefillSuite(ctx, run).Run();
                stepDone("prefill");
            }
            kernels?.Run();
            if (o.Torch)
            {
                // Our buffers are freed by now (each suite disposes its engines), so torch gets the memory.
                torch.Run(report, o.Python, o.TorchScript, o.Repetitions, o.Warmup, console);
                if (report.TorchError is not null) console.Line($"torch peers unavailable: {report.TorchError}");
                stepDone("torch peers");
            }
        }
        int steps = (prefill ? 1 : 0) + (kernels?.Planned().Count ?? 0) + (o.Torch ? 1 : 0);
        if (console.Interactive && !ctx.Settings.Json && steps > 0)
        {
            // A bar on a terminal (the whole bench runs for a minute or more), with the suites' lines printed above it;
            // logs and pipes get the plain lines only.
            console.Ui.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask("bench", maxValue: steps);
                    stepDone = what =>
                    {
                        task.Increment(1);
                        task.Description = $"bench: {Markup.Escape(what)} done";
                    };
                    console.LiveDisplay = true;
                    try
                    {
                        Suites();
                    }
                    finally
                    {
                        console.LiveDisplay = false;
                    }
                });
        }
        else
        {
            Suites();
        }

        ScalingGuard.Apply(report);
        Summarize(console, report);
        var files = ReportWriters.WriteAll(report, o.OutDir);
        console.Line($"wrote {string.Join(", ", files)}");
        if (ctx.Settings.Json)
            JsonReport.Write(ctx, "bench", device, new { files, report = System.Text.Json.Nodes.JsonNode.Parse(ReportWriters.Json(report)) });
        return ExitCodes.Ok;
    }

    private const string HostKernelMethod =
        "reference backend: the same rotation (2 instances x 2 repeats) in one reference-engine graph per token count; the time is " +
        "the host CPU's between the reference stream's events around one replay, divided by S x R. No GPU and no L2 are involved.";

    /// <summary>Largest bench.json --readme-table reads: a full `--suite all --torch` report is well under a megabyte.</summary>
    private const int MaxBenchJsonBytes = 64 << 20;

    // The README's results table and chart from a committed bench.json; opens no device.
    private static int WriteReadmeTable(CommandContext ctx, string from, string outDir)
    {
        BenchReport report;
        string text;
        try
        {
            text = InputFile.ReadAllText(from, MaxBenchJsonBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--readme-table {InputText.Quote(from)} cannot be read: {InputText.OneLine(e.Message)}", e);
        }
        try
        {
            report = BenchJson.Read(text);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or InvalidOperationException)
        {
            throw new UsageException($"--readme-table {InputText.Quote(from)} is not a bench.json: {InputText.OneLine(e.Message)}", e);
        }
        string? preset = ctx.Config[$"{RunSettings.Section}:Preset"];
        string table, svg;
        try
        {
            table = ReadmeTable.Markdown(report, preset);
            svg = ReadmeTable.Svg(report, preset);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--readme-table {InputText.Quote(from)}: {e.Message}", e);
        }
        string tablePath = Path.Combine(outDir, "readme-table.md"), svgPath = Path.Combine(outDir, "prefill.svg");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(tablePath, table);
        File.WriteAllText(svgPath, svg);
        ctx.Console.Line(table.TrimEnd());
        ctx.Console.Line($"wrote {tablePath}, {svgPath}");
        if (ctx.Settings.Json) JsonReport.Write(ctx, "bench --readme-table", null, new { from, files = new[] { tablePath, svgPath }, table });
        return ExitCodes.Ok;
    }

    private static void Summarize(CliConsole console, BenchReport r)
    {
        foreach (var g in r.Prefill.GroupBy(p => (p.Preset, p.Quant)))
        {
            var t = console.Table($"prefill {g.Key.Preset} ({g.Key.Quant})");
            foreach (var c in new[] { "n", "mode", "wall ms", "busy ms", "busy/wall", "floor ms", "wall/floor", "torch eager", "torch graph", "ours/torch graph" })
                t.AddColumn(new TableColumn(c).RightAligned());
            foreach (var p in g.OrderBy(p => p.Tokens).ThenBy(p => ReportWriters.ModeOrder(p.Mode)))
            {
                var te = r.Peer(BenchReport.PrefillKey(p.Preset, p.Quant, "eager", p.Tokens));
                var tg = r.Peer(BenchReport.PrefillKey(p.Preset, p.Quant, "graph", p.Tokens));
                t.AddRow(p.Tokens.ToString(), p.Mode, F(p.WallMs), F(p.BusyMs), $"{p.BusyFraction * 100:F0}%", $"{F(p.FloorMs)} {p.FloorBound[0]}",
                    $"{p.FloorRatio:F2}x", Peer(te), Peer(tg), tg?.Ms is { } ms && ms > 0 ? $"{p.WallMs / ms:F2}x" : "");
            }
            console.Render(t);
        }
        if (r.Kernels.Count > 0)
        {
            var t = console.Table(r.HostFigures ? "kernels (host CPU time, reference backend, median)" : "kernels (GPU time, median)");
            foreach (var c in new[] { "family", "variant", "shape", "n", "us", "floor us", "x floor", "peer", "peer us", "ours/peer" })
                t.AddColumn(new TableColumn(c));
            foreach (var k in r.Kernels)
            {
                var peer = r.Peer(BenchReport.KernelKey(k.Family, k.Variant, k.Shape, k.Tokens));
                t.AddRow(Markup.Escape(k.Family), Markup.Escape(k.Variant), Markup.Escape(k.Shape), k.Tokens.ToString(), F(k.Ms * 1e3, 1), F(k.FloorMs * 1e3, 1),
                    $"{k.FloorRatio:F2}x", Markup.Escape(peer?.Name ?? ""), peer?.Ms is { } pm ? F(pm * 1e3, 1) : peer is null ? "" : "n/a",
                    peer?.Ms is { } pms && pms > 0 ? $"{k.Ms / pms:F2}x" : "");
            }
            console.Render(t);
        }
        foreach (var f in r.Figures)
            console.Line($"{f.Group}: {f.Name} = {F(f.Value)} {f.Unit}{(f.Target is null ? "" : $" (target {f.Target})")}");
        foreach (var m in r.Missing)
            console.Line($"not measured: {m.What}: {m.Reason}");
    }

    private static string Peer(PeerTime? p) => p is null ? "" : p.Ms is { } ms ? F(ms) : "n/a";
    private static string F(double v, int d = 3) => double.IsFinite(v) ? v.ToString("F" + d, System.Globalization.CultureInfo.InvariantCulture) : "";
}
