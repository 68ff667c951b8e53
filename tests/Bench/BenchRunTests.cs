using System.Text.Json;
using GraphEngine.Bench.Reports;
using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.Bench;

/// <summary>The bench end to end on the reference backend, and the README table from a committed GPU run.</summary>
public class BenchRunTests
{
    private static string RepoRoot() => RepoPaths.Root;

    private static string TempDir() => Path.Combine(Path.GetTempPath(), $"ge-bench-{Guid.NewGuid():N}");

    [Fact]
    public void Kernel_suite_on_the_reference_backend_writes_a_truthful_report_with_provenance()
    {
        string dir = TempDir();
        try
        {
            var r = CliHarness.Run($"bench --suite kernels --backend reference --reps 1 --warmup 0 --out {dir}");
            Assert.True(r.Exit == 0, r.Err + r.Out);
            Assert.Contains("instances x", r.Out); // progress is printed

            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "bench.json")));
            var root = doc.RootElement;
            Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("provenance").GetProperty("commit").GetString()));
            Assert.True(root.GetProperty("hostFigures").GetBoolean());
            string method = root.GetProperty("kernelTimingMethod").GetString()!;
            Assert.Contains("reference backend", method);
            Assert.Contains("S x R", method);
            var kernels = root.GetProperty("kernels").EnumerateArray().ToList();
            foreach (var family in new[] { "rmsnorm", "linear", "block_fp8", "moe", "moe_gemm", "w4afp8_gemm" })
                Assert.Contains(kernels, k => k.GetProperty("family").GetString() == family);
            Assert.All(kernels, k => Assert.True(k.GetProperty("ms").GetDouble() > 0));
            Assert.All(kernels, k => Assert.Equal((2, 2), (k.GetProperty("instances").GetInt32(), k.GetProperty("repeats").GetInt32())));

            string md = File.ReadAllText(Path.Combine(dir, "bench.md"));
            Assert.Contains("host CPU", md);
            // Host figures are never called GPU times (the method text may say "no GPU").
            foreach (var line in md.Split('\n').Where(l => l.Contains("GPU")))
                Assert.Contains("no GPU", line.Replace("not a GPU", "no GPU"), StringComparison.OrdinalIgnoreCase);
            AssertEveryMarkerHasALegend(md);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    private static void AssertEveryMarkerHasALegend(string md)
    {
        if (!md.Contains(ScalingGuard.Marker)) return;
        Assert.Contains(ScalingGuard.Legend, md);
        Assert.Contains("## Flagged timings", md);
    }

    [Fact]
    public void Gpu_report_keeps_its_GPU_wording()
    {
        var r = new BenchReport { Device = "H200", BusyTimeMethod = "CUPTI" };
        r.Prefill.Add(new PrefillPoint("p", "bf16", "segment", 1, 1, 1, 1, 1, "memory", 1, 0, 1));
        Assert.Contains("GPU busy ms", ReportWriters.Markdown(r));
        Assert.DoesNotContain("host CPU", ReportWriters.Markdown(r));
    }

    [Fact]
    public void Readme_table_is_regenerated_from_a_committed_H200_run()
    {
        string root = RepoRoot();
        var report = BenchJson.Read(File.ReadAllText(Path.Combine(root, "docs", "results", "prefill-h200.json")));
        string table = ReadmeTable.Markdown(report);
        // The rows docs/results.md quotes for that run (commit bb345f6), regenerated from its bench.json.
        Assert.Contains("| tokens | Segment graphs | floor | torch.cuda.graph | ours / torch graph |", table);
        Assert.Contains("| 1 | 3.64 ms | 1.16 ms | 4.74 ms | 0.77x |", table);
        Assert.Contains("| 2048 | 54.26 ms | 12.52 ms | 36.61 ms | 1.48x |", table);
        var svg = System.Xml.Linq.XDocument.Parse(ReadmeTable.Svg(report));
        Assert.NotEmpty(svg.Descendants(System.Xml.Linq.XName.Get("polyline", "http://www.w3.org/2000/svg")));
    }

    [Fact]
    public void Readme_table_round_trips_a_written_report()
    {
        var r = new BenchReport { Device = "d" };
        foreach (int n in new[] { 1, 16 })
        {
            r.Prefill.Add(new PrefillPoint("llama3-8b", "none", "segment", n, 2.0 * n, 1, 1, 1.0 * n, "memory", 1, 0, 1));
            r.Peers[BenchReport.PrefillKey("llama3-8b", "none", "graph", n)] = new PeerTime("torch graph", 4.0 * n, null);
        }
        var back = BenchJson.Read(ReportWriters.Json(r));
        Assert.Equal(ReadmeTable.Markdown(r), ReadmeTable.Markdown(back));
        Assert.Contains("| 16 | 32.00 ms | 16.00 ms | 64.00 ms | 0.50x |", ReadmeTable.Markdown(back, "llama3-8b"));
        Assert.Throws<ArgumentException>(() => ReadmeTable.Markdown(back, "nope"));
    }

    [Fact]
    public void Readme_table_command_writes_the_table_and_chart_without_a_device()
    {
        string dir = TempDir();
        try
        {
            string json = Path.Combine(RepoRoot(), "docs", "results", "prefill-h200.json");
            var r = CliHarness.Run(new[] { "bench", "--readme-table", json, "--out", dir });
            Assert.True(r.Exit == 0, r.Err);
            Assert.Contains("| 128 | 13.81 ms |", File.ReadAllText(Path.Combine(dir, "readme-table.md")));
            Assert.True(File.Exists(Path.Combine(dir, "prefill.svg")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
