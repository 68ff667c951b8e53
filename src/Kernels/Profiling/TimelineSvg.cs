using System.Globalization;
using System.Security;
using System.Text;

namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// Draws one step as an SVG: one row per stream, each record a rectangle coloured by family (legend below), idle
/// gaps shaded on a strip above the rows, time axis in µs from the step's first start. Plain string building.
/// </summary>
public static class TimelineSvg
{
    private const int Left = 90, Right = 20, Top = 40, RowHeight = 22, RowGap = 6, GapStrip = 10;

    // Colour-blind-safe (Okabe-Ito) for the default families; further families cycle through the extras.
    private static readonly Dictionary<string, string> s_fixed = new(StringComparer.Ordinal)
    {
        [KernelFamilies.Gemm] = "#0072B2",
        [KernelFamilies.MoeGemm] = "#56B4E9",
        [KernelFamilies.MoeRouting] = "#E69F00",
        [KernelFamilies.Norm] = "#009E73",
        [KernelFamilies.Quant] = "#CC79A7",
        [KernelFamilies.Memcpy] = "#D55E00",
        [KernelFamilies.Memset] = "#F0E442",
        [KernelFamilies.Other] = "#999999",
    };

    private static readonly string[] s_extra = ["#8C564B", "#17BECF", "#BCBD22", "#7F7F7F", "#9467BD", "#2CA02C"];

    /// <paramref name="step"/> as an SVG document <paramref name="width"/> pixels wide, headed <paramref name="title"/> (default "step").
    public static string Render(StepTimeline step, string? title = null, int width = 1200)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, Left + Right + 100);
        var inv = CultureInfo.InvariantCulture;
        double plot = width - Left - Right;
        double span = Math.Max(step.SpanNs, 1);
        double X(ulong ns) => Left + (ns - step.StartNs) / span * plot;

        var streams = step.Streams;
        int rowsTop = Top + GapStrip + RowGap;
        int rowsBottom = rowsTop + streams.Count * (RowHeight + RowGap);
        int axisY = rowsBottom + 4;
        var families = step.Families.Select(f => f.Family).ToArray();
        int legendY = axisY + 34;
        int legendRows = (families.Length + 3) / 4;
        int height = legendY + legendRows * 20 + 10;
        var colours = Colours(families);

        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" ");
        sb.Append(inv, $"viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        sb.Append(inv, $"<rect class=\"background\" x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        string heading = title ?? "step";
        sb.Append(inv, $"<text x=\"{Left}\" y=\"18\" font-size=\"13\">{Esc(heading)}: span {Us(step.SpanNs)} µs, ");
        sb.Append(inv, $"busy {Us(step.BusyNs)} µs ({step.BusyShare * 100:F1}%), {step.Gaps.Count} gaps, ");
        sb.Append(inv, $"{step.KernelCount} kernels</text>\n");

        sb.Append("<g id=\"gaps\">\n");
        sb.Append(inv, $"<text x=\"{Left - 6}\" y=\"{Top + GapStrip - 1}\" text-anchor=\"end\">idle</text>\n");
        for (int i = 0; i + 1 < step.BusyIntervals.Count; i++)
        {
            ulong a = step.BusyIntervals[i].EndNs, b = step.BusyIntervals[i + 1].StartNs;
            sb.Append(inv, $"<rect class=\"gap\" x=\"{X(a):F2}\" y=\"{Top}\" width=\"{Math.Max(X(b) - X(a), 0.5):F2}\" ");
            sb.Append(inv, $"height=\"{GapStrip}\" fill=\"#E15759\"><title>idle {Us(b - a)} µs</title></rect>\n");
        }
        sb.Append("</g>\n");

        sb.Append("<g id=\"streams\">\n");
        for (int row = 0; row < streams.Count; row++)
        {
            int y = rowsTop + row * (RowHeight + RowGap);
            sb.Append(inv, $"<rect class=\"lane\" x=\"{Left}\" y=\"{y}\" width=\"{plot:F2}\" height=\"{RowHeight}\" fill=\"#F4F4F4\"/>\n");
            sb.Append(inv, $"<text x=\"{Left - 6}\" y=\"{y + RowHeight / 2 + 4}\" text-anchor=\"end\">stream {streams[row]}</text>\n");
        }
        var rowOf = streams.Select((s, i) => (s, i)).ToDictionary(x => x.s, x => x.i);
        foreach (var r in step.Records)
        {
            int y = rowsTop + rowOf[r.StreamId] * (RowHeight + RowGap);
            string family = step.FamilyOf(r);
            // A 1 µs kernel in a 2 ms step is under a pixel wide; keep it visible.
            double w = Math.Max(X(r.EndNs) - X(r.StartNs), 0.5);
            sb.Append(inv, $"<rect class=\"kernel\" data-family=\"{Esc(family)}\" x=\"{X(r.StartNs):F2}\" y=\"{y}\" ");
            sb.Append(inv, $"width=\"{w:F2}\" height=\"{RowHeight}\" fill=\"{colours[family]}\">");
            sb.Append(inv, $"<title>{Esc(r.Name)} ({Esc(family)}): {Us(r.DurationNs)} µs at +{Us(r.StartNs - step.StartNs)} µs</title>");
            sb.Append("</rect>\n");
        }
        sb.Append("</g>\n");

        sb.Append("<g id=\"axis\">\n");
        sb.Append(inv, $"<line x1=\"{Left}\" y1=\"{axisY}\" x2=\"{Left + plot:F2}\" y2=\"{axisY}\" stroke=\"black\"/>\n");
        double stepUs = NiceStep(step.SpanNs / 1000.0 / 8);
        for (double t = 0; t * 1000 <= step.SpanNs + 1e-9; t += stepUs)
        {
            double x = Left + t * 1000 / span * plot;
            sb.Append(inv, $"<line x1=\"{x:F2}\" y1=\"{axisY}\" x2=\"{x:F2}\" y2=\"{axisY + 4}\" stroke=\"black\"/>\n");
            sb.Append(inv, $"<text x=\"{x:F2}\" y=\"{axisY + 16}\" text-anchor=\"middle\">{t.ToString("0.###", inv)}</text>\n");
        }
        sb.Append(inv, $"<text x=\"{Left + plot:F2}\" y=\"{axisY + 28}\" text-anchor=\"end\">µs</text>\n");
        sb.Append("</g>\n");

        sb.Append("<g id=\"legend\">\n");
        for (int i = 0; i < step.Families.Count; i++)
        {
            var f = step.Families[i];
            int x = Left + (i % 4) * 220, y = legendY + (i / 4) * 20;
            sb.Append(inv, $"<rect class=\"legend-swatch\" x=\"{x}\" y=\"{y - 10}\" width=\"12\" height=\"12\" ");
            sb.Append(inv, $"fill=\"{colours[f.Family]}\"/>\n");
            sb.Append(inv, $"<text class=\"legend-label\" x=\"{x + 18}\" y=\"{y}\">{Esc(f.Family)}: ");
            sb.Append(inv, $"{Us(f.TotalNs)} µs, {f.Share * 100:F1}% ({f.Count})</text>\n");
        }
        sb.Append("</g>\n</svg>\n");
        return sb.ToString();
    }

    private static Dictionary<string, string> Colours(IEnumerable<string> families)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        int next = 0;
        foreach (var f in families)
            result[f] = s_fixed.TryGetValue(f, out var c) ? c : s_extra[next++ % s_extra.Length];
        return result;
    }

    // 1, 2 or 5 times a power of ten, at least the raw step, so ticks land on round µs values.
    private static double NiceStep(double raw)
    {
        if (raw <= 0) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        foreach (var m in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (m * p >= raw) return m * p;
        return 10 * p;
    }

    private static string Us(ulong ns) => (ns / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);

    private static string Esc(string s) => SecurityElement.Escape(s) ?? "";
}
