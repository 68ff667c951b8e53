using System.Globalization;
using System.Xml.Linq;
using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Tests.Kernels.Profiling;

public sealed class TimelineSvgTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static StepTimeline Step() => StepTimeline.Analyze(new[]
    {
        new KernelRecord("sm90_xmma_gemm_<a&b>", 1_000, 21_000, 3),
        new KernelRecord("rms_norm", 21_000, 22_000, 3),
        new KernelRecord("moe_routing", 15_000, 18_000, 9),
        new KernelRecord("memcpy DtoD", 30_000, 31_500, 9, RecordKind.Memcpy) { Bytes = 4096 },
        new KernelRecord("flash_attn", 40_000, 41_000, 3),
    });

    [Fact]
    public void Svg_is_well_formed_with_one_rect_per_record_one_lane_per_stream_and_a_legend()
    {
        var step = Step();
        var doc = XDocument.Parse(TimelineSvg.Render(step, "layer 3 <n=7>"));
        var rects = doc.Descendants(Svg + "rect").ToArray();
        var kernels = rects.Where(r => (string?)r.Attribute("class") == "kernel").ToArray();
        Assert.Equal(5, kernels.Length);
        Assert.Equal(2, rects.Count(r => (string?)r.Attribute("class") == "lane"));
        // gemm 1..22 µs busy (with the norm), then idle to 30, 31.5 to 40: two gaps.
        Assert.Equal(2, rects.Count(r => (string?)r.Attribute("class") == "gap"));
        var legend = doc.Descendants(Svg + "g").Single(g => (string?)g.Attribute("id") == "legend");
        var labels = legend.Elements(Svg + "text").Select(t => t.Value).ToArray();
        Assert.Equal(5, legend.Elements(Svg + "rect").Count());
        foreach (var family in new[] { "gemm", "norm", "moe-routing", "memcpy", "other" })
            Assert.Contains(labels, l => l.StartsWith(family + ":", StringComparison.Ordinal));
        Assert.Contains(doc.Descendants(Svg + "title"), t => t.Value.StartsWith("sm90_xmma_gemm_<a&b>", StringComparison.Ordinal));
    }

    [Fact]
    public void Kernel_rects_sit_at_their_time_and_share_colour_with_their_legend_entry()
    {
        var step = Step();
        const int width = 1000; // plot area = 1000 - 90 - 20 = 890 px over a 40 µs span
        var doc = XDocument.Parse(TimelineSvg.Render(step, width: width));
        var kernels = doc.Descendants(Svg + "rect").Where(r => (string?)r.Attribute("class") == "kernel").ToArray();
        double Attr(XElement e, string n) => double.Parse((string)e.Attribute(n)!, CultureInfo.InvariantCulture);
        var norm = kernels.Single(k => k.Element(Svg + "title")!.Value.StartsWith("rms_norm", StringComparison.Ordinal));
        Assert.Equal(90 + 20_000.0 / 40_000 * 890, Attr(norm, "x"), 2);
        Assert.Equal(1_000.0 / 40_000 * 890, Attr(norm, "width"), 2);
        var legend = doc.Descendants(Svg + "g").Single(g => (string?)g.Attribute("id") == "legend");
        var swatches = legend.Elements(Svg + "rect").Select(r => (string)r.Attribute("fill")!).ToArray();
        var kernelFills = kernels.Select(k => (string)k.Attribute("fill")!).Distinct().ToArray();
        Assert.Equal(swatches.Order(), kernelFills.Order());
    }
}
