using System.Text;

namespace GraphEngine.Bench.Reports;

/// <summary>
/// The README's results table and chart from a bench report (usually read back from a committed bench.json with
/// <see cref="BenchJson"/>): per token count, our step time in one graph mode beside the floor, the torch.cuda.graph
/// peer and ours / torch, for one preset.
/// </summary>
public static class ReadmeTable
{
    public const string DefaultMode = "segment";

    /// <summary>The preset the table shows: <paramref name="preset"/> if given, else the first prefill preset of the report.</summary>
    public static (string Preset, string Quant) Pick(BenchReport r, string? preset)
    {
        var groups = r.Prefill.Select(p => (p.Preset, p.Quant)).Distinct().ToList();
        if (groups.Count == 0) throw new ArgumentException("the report has no prefill points to tabulate");
        if (preset is null) return groups[0];
        foreach (var g in groups)
            if (string.Equals(g.Preset, preset, StringComparison.OrdinalIgnoreCase)) return g;
        throw new ArgumentException($"the report has no prefill points for preset '{preset}' (it has {string.Join(", ", groups.Select(g => g.Preset))})");
    }

    public static string Markdown(BenchReport r, string? preset = null, string mode = DefaultMode)
    {
        var (name, quant) = Pick(r, preset);
        var points = r.Prefill.Where(p => p.Preset == name && p.Quant == quant && p.Mode == mode).OrderBy(p => p.Tokens).ToList();
        if (points.Count == 0) throw new ArgumentException($"the report has no '{mode}' points for {name}");
        string modeTitle = mode switch { "segment" => "Segment graphs", "layer" => "Layer graphs", "eager" => "eager", _ => mode };
        var sb = new StringBuilder();
        sb.AppendLine($"| tokens | {modeTitle} | floor | torch.cuda.graph | ours / torch graph |");
        sb.AppendLine("|---:|---:|---:|---:|---:|");
        bool marked = false;
        foreach (var p in points)
        {
            string key = BenchReport.PrefillKey(p.Preset, p.Quant, "graph", p.Tokens);
            var torch = r.Peer(key)?.Ms;
            string mark = r.IsFlagged(BenchReport.PrefillKey(p.Preset, p.Quant, p.Mode, p.Tokens), true) ? " " + ScalingGuard.Marker : "";
            string peerMark = r.IsFlagged(key, false) ? " " + ScalingGuard.Marker : "";
            marked |= mark.Length + peerMark.Length > 0;
            sb.AppendLine($"| {p.Tokens} | {Ms(p.WallMs)}{mark} | {Ms(p.FloorMs)} | {(torch is { } t ? Ms(t) : "n/a")}{peerMark} | " +
                          $"{(torch is > 0 ? ReportWriters.F(p.WallMs / torch.Value, 2) + "x" : "")} |");
        }
        if (marked) { sb.AppendLine(); sb.AppendLine(ScalingGuard.Legend); }
        return sb.ToString();
    }

    /// <summary>The chart of the same preset: every mode, the floor and the torch peers against tokens.</summary>
    public static string Svg(BenchReport r, string? preset = null)
    {
        var (name, quant) = Pick(r, preset);
        var only = new BenchReport { Device = r.Device };
        only.Prefill.AddRange(r.Prefill.Where(p => p.Preset == name && p.Quant == quant));
        foreach (var (k, v) in r.Peers) only.Peers[k] = v;
        return ReportWriters.Svg(only);
    }

    private static string Ms(double ms) => double.IsFinite(ms) ? $"{ReportWriters.F(ms, 2)} ms" : "";
}
