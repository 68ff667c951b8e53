using System.Text.Json;
using System.Xml.Linq;
using GraphEngine.Bench.Reports;

namespace GraphEngine.Tests.Bench;

public class ReportWriterTests
{
    private static BenchReport Sample()
    {
        var r = new BenchReport { Device = "Test GPU | with pipe", Command = "graphengine bench", Repetitions = 5, Warmup = 1, BusyTimeMethod = "events" };
        r.Ceilings = new Ceilings(2990, 1L << 30, 777, "8192^3 bf16", "events");
        var rng = new Random(7);
        foreach (var mode in new[] { "eager", "layer", "segment" })
            foreach (int n in new[] { 1, 16, 128, 2048 })
                r.Prefill.Add(new PrefillPoint("ernie45-21b-a3b", "bf16", mode, n, 1 + rng.NextDouble() * n / 100, 1, 0.9, 0.5, "memory", 1e9, 6, 1e9));
        r.Peers[BenchReport.PrefillKey("ernie45-21b-a3b", "bf16", "graph", 16)] = new PeerTime("torch graph", 15.7, null);
        r.Peers[BenchReport.PrefillKey("ernie45-21b-a3b", "bf16", "eager", 16)] = new PeerTime("torch eager", null, "RuntimeError: boom");
        r.Kernels.Add(new KernelPoint("rmsnorm", "bf16", "h=4096", 2048, 0.0108, 0.0112, "memory"));
        r.Missing.Add(new Missing("linear wint4", "not built"));
        return r;
    }

    [Fact]
    public void Json_is_valid_and_carries_points_and_peers()
    {
        using var doc = JsonDocument.Parse(ReportWriters.Json(Sample()));
        var prefill = doc.RootElement.GetProperty("prefill");
        Assert.Equal(12, prefill.GetArrayLength());
        var p16 = prefill.EnumerateArray().First(p => p.GetProperty("tokens").GetInt32() == 16 && p.GetProperty("mode").GetString() == "segment");
        Assert.Equal(15.7, p16.GetProperty("torchGraph").GetProperty("ms").GetDouble());
        Assert.Equal("RuntimeError: boom", p16.GetProperty("torchEager").GetProperty("error").GetString());
        Assert.Equal(2990, doc.RootElement.GetProperty("ceilings").GetProperty("copyGBps").GetDouble());
    }

    [Fact]
    public void Markdown_tables_have_consistent_columns()
    {
        string md = ReportWriters.Markdown(Sample());
        var tableLines = md.Split('\n').Where(l => l.StartsWith('|')).ToList();
        Assert.NotEmpty(tableLines);
        // Each table's rows have as many unescaped pipes as its header.
        int? expected = null;
        foreach (var line in md.Split('\n'))
        {
            if (!line.StartsWith('|')) { expected = null; continue; }
            int pipes = line.Replace("\\|", "").Count(c => c == '|');
            expected ??= pipes;
            Assert.Equal(expected, pipes);
        }
        Assert.Contains("| 16 | segment |", md);
        Assert.Contains("not built", md);
    }

    [Fact]
    public void Svg_is_well_formed_xml_with_a_line_per_mode()
    {
        var doc = XDocument.Parse(ReportWriters.Svg(Sample()));
        XNamespace svg = "http://www.w3.org/2000/svg";
        Assert.Equal(svg + "svg", doc.Root!.Name);
        var lines = doc.Descendants(svg + "polyline").ToList();
        // eager, layer, segment, floor, torch graph (torch eager has only an error: no line).
        Assert.Equal(5, lines.Count);
        foreach (var l in lines)
            foreach (var pt in l.Attribute("points")!.Value.Split(' '))
                Assert.All(pt.Split(','), v => Assert.True(double.IsFinite(double.Parse(v, System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Fact]
    public void Writers_put_three_files_in_the_directory()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ge-bench-{Guid.NewGuid():N}");
        try
        {
            var files = ReportWriters.WriteAll(Sample(), dir);
            Assert.Equal(3, files.Count);
            Assert.All(files, f => Assert.True(new FileInfo(f).Length > 100, f));
        }
        finally { Directory.Delete(dir, true); }
    }
}
