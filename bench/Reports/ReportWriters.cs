using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GraphEngine.Bench.Reports;

/// <summary>Writes a <see cref="BenchReport"/> as JSON, a markdown table and an SVG chart.</summary>
public static class ReportWriters
{
    /// <summary>How every report file the bench and profile commands write is serialized.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IReadOnlyList<string> WriteAll(BenchReport report, string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new[] { Path.Combine(dir, "bench.json"), Path.Combine(dir, "bench.md"), Path.Combine(dir, "bench.svg") };
        File.WriteAllText(files[0], Json(report));
        File.WriteAllText(files[1], Markdown(report));
        File.WriteAllText(files[2], Svg(report));
        return files;
    }

    public static string Json(BenchReport r) => JsonSerializer.Serialize(new
    {
        r.Device,
        r.Provenance,
        r.Command,
        r.When,
        r.Repetitions,
        r.Warmup,
        r.BusyTimeMethod,
        r.KernelTimingMethod,
        r.HostFigures,
        r.Ceilings,
        r.TorchVersion,
        r.TorchError,
        prefill = r.Prefill.Select(p => new
        {
            p.Preset, p.Quant, p.Mode, p.Tokens, p.WallMs, p.GpuSpanMs, p.BusyMs, p.FloorMs, p.FloorBound,
            p.WeightBytesRead, p.ExpertsHit, p.Flops, tracedWallMs = Finite(p.TracedWallMs), floorRatio = Finite(p.FloorRatio),
            busyFraction = Finite(p.BusyFraction),
            torchEager = r.Peer(BenchReport.PrefillKey(p.Preset, p.Quant, "eager", p.Tokens)),
            torchGraph = r.Peer(BenchReport.PrefillKey(p.Preset, p.Quant, "graph", p.Tokens)),
        }),
        kernels = r.Kernels.Select(k => new
        {
            k.Family, k.Variant, k.Shape, k.Tokens, k.Ms, k.FloorMs, k.FloorBound, floorRatio = Finite(k.FloorRatio), k.Note, k.Instances, k.Repeats,
            peer = r.Peer(BenchReport.KernelKey(k.Family, k.Variant, k.Shape, k.Tokens)),
        }),
        r.Figures,
        r.Flags,
        r.Missing,
    }, JsonOptions);

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    // ---------------------------------------------------------------- markdown

    public static string Markdown(BenchReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# graphengine bench — {r.Device}");
        sb.AppendLine();
        sb.AppendLine($"`{r.Command}` at {r.When:yyyy-MM-dd HH:mm} UTC; median of {r.Repetitions} repetitions after {r.Warmup} warm-up.");
        if (r.Provenance is { } prov) { sb.AppendLine(); sb.AppendLine($"Provenance: {Cell(prov.ToString())}"); }
        if (r.HostFigures)
        {
            sb.AppendLine();
            sb.AppendLine("Reference backend: every time below is the host CPU's (kernels run on the host), not a GPU's.");
        }
        if (r.Ceilings is { } c)
        {
            sb.AppendLine();
            sb.AppendLine($"Ceilings measured in this run: {c.Summary()}. {c.Method}");
        }
        if (!string.IsNullOrEmpty(r.BusyTimeMethod)) { sb.AppendLine(); sb.AppendLine($"Busy time: {r.BusyTimeMethod}"); }
        if (r.Kernels.Count > 0) { sb.AppendLine(); sb.AppendLine($"Kernel timing: {r.KernelTimingMethod}"); }
        if (r.TorchVersion is not null) { sb.AppendLine(); sb.AppendLine($"PyTorch {r.TorchVersion} in the same call."); }
        if (r.TorchError is not null) { sb.AppendLine(); sb.AppendLine($"PyTorch peers unavailable: {Cell(r.TorchError)}"); }

        foreach (var group in r.Prefill.GroupBy(p => (p.Preset, p.Quant)))
        {
            sb.AppendLine();
            sb.AppendLine($"## Prefill step: {group.Key.Preset}, {group.Key.Quant}");
            sb.AppendLine();
            sb.AppendLine($"| n | mode | wall ms | {(r.HostFigures ? "busy ms" : "GPU busy ms")} | busy / wall | floor ms (bound) | wall / floor | " +
                          "torch eager ms | torch graph ms | ours / torch graph |");
            sb.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var p in group.OrderBy(p => p.Tokens).ThenBy(p => ModeOrder(p.Mode)))
            {
                var te = r.Peer(BenchReport.PrefillKey(p.Preset, p.Quant, "eager", p.Tokens));
                var tg = r.Peer(BenchReport.PrefillKey(p.Preset, p.Quant, "graph", p.Tokens));
                string ours = BenchReport.PrefillKey(p.Preset, p.Quant, p.Mode, p.Tokens);
                string eagerKey = BenchReport.PrefillKey(p.Preset, p.Quant, "eager", p.Tokens);
                string graphKey = BenchReport.PrefillKey(p.Preset, p.Quant, "graph", p.Tokens);
                sb.AppendLine($"| {p.Tokens} | {p.Mode} | {F(p.WallMs, 3)}{Mark(r, ours, true)} | {F(p.BusyMs, 3)} | {Pct(p.BusyFraction)} | " +
                              $"{F(p.FloorMs, 3)} ({p.FloorBound}) | {F(p.FloorRatio, 2)}x | {PeerCell(te)}{Mark(r, eagerKey, false)} | " +
                              $"{PeerCell(tg)}{Mark(r, graphKey, false)} | {Ratio(p.WallMs, tg)} |");
            }
        }

        foreach (var fam in r.Kernels.GroupBy(k => k.Family))
        {
            sb.AppendLine();
            sb.AppendLine($"## Kernels: {fam.Key}");
            sb.AppendLine();
            sb.AppendLine($"| variant | shape | n | {(r.HostFigures ? "host ms" : "ms")} | floor ms (bound) | ms / floor | S x R | peer | peer ms | " +
                          "ours / peer | note |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|");
            foreach (var k in fam)
            {
                string key = BenchReport.KernelKey(k.Family, k.Variant, k.Shape, k.Tokens);
                var peer = r.Peer(key);
                sb.AppendLine($"| {Cell(k.Variant)} | {Cell(k.Shape)} | {k.Tokens} | {F(k.Ms, 4)}{Mark(r, key, true)} | {F(k.FloorMs, 4)} ({k.FloorBound}) | " +
                              $"{F(k.FloorRatio, 2)}x | {(k.Instances > 0 ? $"{k.Instances} x {k.Repeats}" : "")} | {Cell(peer?.Name ?? "")} | " +
                              $"{PeerCell(peer)}{Mark(r, key, false)} | {Ratio(k.Ms, peer)} | {Cell(k.Note ?? "")} |");
            }
        }

        if (r.Figures.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Figures");
            sb.AppendLine();
            sb.AppendLine("| group | figure | value | target | note |");
            sb.AppendLine("|---|---|---:|---|---|");
            foreach (var f in r.Figures)
                sb.AppendLine($"| {Cell(f.Group)} | {Cell(f.Name)} | {F(f.Value, 3)} {Cell(f.Unit)} | {Cell(f.Target ?? "")} | {Cell(f.Note ?? "")} |");
        }

        if (r.Flags.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Flagged timings");
            sb.AppendLine();
            sb.AppendLine(ScalingGuard.Legend);
            sb.AppendLine();
            sb.AppendLine("| who | series | why |");
            sb.AppendLine("|---|---|---|");
            foreach (var f in r.Flags) sb.AppendLine($"| {Cell(f.Who)} | {Cell(f.Series)} | {Cell(f.Reason)} |");
        }

        if (r.Missing.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Not measured");
            sb.AppendLine();
            sb.AppendLine("| what | why |");
            sb.AppendLine("|---|---|");
            foreach (var m in r.Missing) sb.AppendLine($"| {Cell(m.What)} | {Cell(m.Reason)} |");
        }
        return sb.ToString();
    }

    private static string Mark(BenchReport r, string key, bool ours) => r.IsFlagged(key, ours) ? " " + ScalingGuard.Marker : "";

    public static int ModeOrder(string mode) => mode switch { "eager" => 0, "layer" => 1, "segment" => 2, _ => 3 };

    private static string PeerCell(PeerTime? p) => p switch
    {
        null => "",
        { Ms: { } ms } => F(ms, 3),
        _ => "n/a",
    };

    private static string Ratio(double ours, PeerTime? p) =>
        p?.Ms is { } theirs && theirs > 0 ? $"{F(ours / theirs, 2)}x" : "";

    private static string Pct(double v) => double.IsFinite(v) ? $"{v * 100:F0}%" : "";

    internal static string F(double v, int digits) =>
        double.IsFinite(v) ? v.ToString("F" + digits, CultureInfo.InvariantCulture) : "";

    // Pipes and newlines would break a markdown row.
    private static string Cell(string s) => s.Replace("|", "\\|").ReplaceLineEndings(" ");

    // ---------------------------------------------------------------- SVG

    /// <summary>One chart panel per (preset, quant): step time against tokens, one line per mode, log-x.</summary>
    public static string Svg(BenchReport r)
    {
        var panels = new List<SvgChart.Panel>();
        foreach (var group in r.Prefill.GroupBy(p => (p.Preset, p.Quant)))
        {
            var series = new List<SvgChart.Series>();
            foreach (var mode in group.GroupBy(p => p.Mode).OrderBy(g => ModeOrder(g.Key)))
                series.Add(new SvgChart.Series(mode.Key, mode.OrderBy(p => p.Tokens).Select(p => (p.Tokens * 1.0, p.WallMs)).ToList()));
            var floor = group.GroupBy(p => p.Tokens).Select(g => (g.Key * 1.0, g.First().FloorMs)).OrderBy(x => x.Item1).ToList();
            series.Add(new SvgChart.Series("floor", floor, Dashed: true));
            foreach (var tm in new[] { "eager", "graph" })
            {
                var pts = group.Select(p => p.Tokens).Distinct().OrderBy(n => n)
                    .Select(n => (n, peer: r.Peer(BenchReport.PrefillKey(group.Key.Preset, group.Key.Quant, tm, n))))
                    .Where(x => x.peer?.Ms is > 0).Select(x => (x.n * 1.0, x.peer!.Ms!.Value)).ToList();
                if (pts.Count > 0) series.Add(new SvgChart.Series($"torch {tm}", pts, Dashed: true));
            }
            panels.Add(new SvgChart.Panel($"{group.Key.Preset} ({group.Key.Quant}) — prefill step time", "tokens", "ms", series));
        }
        return SvgChart.Render($"graphengine bench — {r.Device}", panels);
    }
}
