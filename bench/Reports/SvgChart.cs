using System.Globalization;
using System.Security;
using System.Text;

namespace GraphEngine.Bench.Reports;

/// <summary>
/// A small hand-written SVG line chart: panels stacked vertically, log-scale x, linear y from zero,
/// one polyline with markers per series and a legend. No dependencies.
/// </summary>
public static class SvgChart
{
    public sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false);
    public sealed record Panel(string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series);

    private const int Width = 820, PanelHeight = 360, Left = 70, Right = 170, Top = 40, Bottom = 50;
    private static readonly string[] Colors = { "#1f77b4", "#ff7f0e", "#2ca02c", "#555555", "#d62728", "#9467bd", "#8c564b", "#e377c2" };

    public static string Render(string title, IReadOnlyList<Panel> panels)
    {
        int height = 30 + Math.Max(1, panels.Count) * PanelHeight;
        var sb = new StringBuilder();
        sb.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.AppendLine($"<rect width=\"{Width}\" height=\"{height}\" fill=\"white\"/>");
        sb.AppendLine($"<text x=\"{Width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{Esc(title)}</text>");
        if (panels.Count == 0)
            sb.AppendLine($"<text x=\"{Width / 2}\" y=\"{height / 2}\" text-anchor=\"middle\">no prefill points measured</text>");
        for (int i = 0; i < panels.Count; i++) RenderPanel(sb, panels[i], 30 + i * PanelHeight);
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static void RenderPanel(StringBuilder sb, Panel panel, int y0)
    {
        var pts = panel.Series.SelectMany(s => s.Points).Where(p => p.X > 0 && double.IsFinite(p.Y)).ToList();
        int plotW = Width - Left - Right, plotH = PanelHeight - Top - Bottom;
        int px0 = Left, py0 = y0 + Top;
        sb.AppendLine($"<text x=\"{px0 + plotW / 2}\" y=\"{y0 + 22}\" text-anchor=\"middle\" font-size=\"13\">{Esc(panel.Title)}</text>");
        sb.AppendLine($"<rect x=\"{px0}\" y=\"{py0}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>");
        if (pts.Count == 0) return;

        double lx0 = Math.Floor(Math.Log2(pts.Min(p => p.X))), lx1 = Math.Ceiling(Math.Log2(pts.Max(p => p.X)));
        if (lx1 <= lx0) lx1 = lx0 + 1;
        double yMax = NiceCeiling(pts.Max(p => p.Y));
        double X(double x) => px0 + (Math.Log2(x) - lx0) / (lx1 - lx0) * plotW;
        double Y(double y) => py0 + plotH - y / yMax * plotH;

        // Axes: powers of two along x, five steps along y.
        for (double l = lx0; l <= lx1; l++)
        {
            double x = X(Math.Pow(2, l));
            sb.AppendLine($"<line x1=\"{N(x)}\" y1=\"{py0}\" x2=\"{N(x)}\" y2=\"{py0 + plotH}\" stroke=\"#eee\"/>");
            sb.AppendLine($"<text x=\"{N(x)}\" y=\"{py0 + plotH + 16}\" text-anchor=\"middle\">{Math.Pow(2, l).ToString(CultureInfo.InvariantCulture)}</text>");
        }
        for (int k = 0; k <= 5; k++)
        {
            double v = yMax * k / 5, y = Y(v);
            sb.AppendLine($"<line x1=\"{px0}\" y1=\"{N(y)}\" x2=\"{px0 + plotW}\" y2=\"{N(y)}\" stroke=\"#eee\"/>");
            sb.AppendLine($"<text x=\"{px0 - 6}\" y=\"{N(y + 4)}\" text-anchor=\"end\">{v.ToString("G3", CultureInfo.InvariantCulture)}</text>");
        }
        sb.AppendLine($"<text x=\"{px0 + plotW / 2}\" y=\"{py0 + plotH + 36}\" text-anchor=\"middle\">{Esc(panel.XLabel)} (log scale)</text>");
        sb.AppendLine($"<text x=\"{px0 - 50}\" y=\"{py0 + plotH / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 {px0 - 50} {py0 + plotH / 2})\">{Esc(panel.YLabel)}</text>");

        for (int s = 0; s < panel.Series.Count; s++)
        {
            var series = panel.Series[s];
            string color = Colors[s % Colors.Length];
            var valid = series.Points.Where(p => p.X > 0 && double.IsFinite(p.Y)).OrderBy(p => p.X).ToList();
            if (valid.Count == 0) continue;
            string dash = series.Dashed ? " stroke-dasharray=\"6 4\"" : "";
            sb.AppendLine($"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{string.Join(" ", valid.Select(p => $"{N(X(p.X))},{N(Y(p.Y))}"))}\"><title>{Esc(series.Name)}</title></polyline>");
            foreach (var p in valid)
                sb.AppendLine($"<circle cx=\"{N(X(p.X))}\" cy=\"{N(Y(p.Y))}\" r=\"3\" fill=\"{color}\"><title>{Esc(series.Name)}: n={p.X.ToString(CultureInfo.InvariantCulture)}, {p.Y.ToString("G4", CultureInfo.InvariantCulture)}</title></circle>");
            int ly = py0 + 10 + s * 18;
            sb.AppendLine($"<line x1=\"{px0 + plotW + 12}\" y1=\"{ly}\" x2=\"{px0 + plotW + 36}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>");
            sb.AppendLine($"<text x=\"{px0 + plotW + 42}\" y=\"{ly + 4}\">{Esc(series.Name)}</text>");
        }
    }

    private static double NiceCeiling(double v)
    {
        if (!(v > 0)) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (double m in new[] { 1, 2, 2.5, 5, 10 })
            if (m * p >= v) return m * p;
        return 10 * p;
    }

    private static string N(double v) => v.ToString("F1", CultureInfo.InvariantCulture);
    private static string Esc(string s) => SecurityElement.Escape(s) ?? "";
}
