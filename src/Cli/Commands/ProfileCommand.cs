using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using GraphEngine.Bench;
using GraphEngine.Bench.Reports;
using Spectre.Console;

namespace GraphEngine.Cli.Commands;

/// <summary>`graphengine profile`: a CUPTI timeline of real prefill steps per token count and mode.</summary>
public sealed class ProfileCommandLine
{
    public readonly Option<string> Steps = new("--steps") { Description = "Steps traced per token count and mode (median reported), 2 to 100000; default 10" };
    public readonly Option<string> Out = new("--out") { Description = "Directory for profile.json and the SVG timelines (default: profile-out)" };
    public readonly Option<string> Modes = new("--modes") { Description = "Comma-separated modes: eager, layer, segment (default: all three)" };

    public Option[] All => new Option[] { Steps, Out, Modes };

    private static readonly string[] KnownModes = { "eager", "layer", "segment" };

    /// <summary>Most steps traced per point: each is a CUPTI trace kept in memory until the point's median is taken.</summary>
    private const int MaxSteps = 100_000;

    public (int Steps, string OutDir, string[] Modes) Bind(ParseResult pr)
    {
        int steps = pr.GetValue(Steps) is { } text ? OptionValues.Int(text, "--steps", 2, MaxSteps) : 10;
        string outDir = pr.GetValue(Out) ?? "profile-out";
        var modes = OptionValues.Names(pr.GetValue(Modes) ?? "eager,layer,segment", "--modes", "mode", KnownModes);
        return (steps, outDir, modes);
    }
}

public static class ProfileCommand
{
    // The reports' settings, but with the default (HTML-safe) escaping profile.json has always had.
    private static readonly JsonSerializerOptions Json = new(ReportWriters.JsonOptions) { Encoder = JavaScriptEncoder.Default };

    public static int Execute(CommandContext ctx, int steps, string outDir, IReadOnlyList<string> modes)
    {
        // Checked before any work: a run that can't write its results must not run.
        OutputDirectory.Prepare(outDir, "--out", new[] { "profile.json" });
        using var device = ctx.OpenDevice();
        if (device.Kind != BackendKind.Cuda)
            throw new UsageException("profile traces GPU kernels with CUPTI: the reference backend has none (use a GPU, --backend cuda)");
        using var tracer = StepProfiler.TryOpen(device, out string why) ?? throw new UsageException($"profile: {why}");
        var provenance = Provenance.For(device);
        var console = ctx.Console;
        console.Line($"profile: {provenance}; CUPTI {tracer.LayoutDescription}");
        var missing = new List<Missing>();
        var ceilings = CeilingProbe.Measure(device, 3, 10, missing);
        console.Line($"ceilings: {ceilings.Summary()}");
        var points = new ProfileSuite(ctx, device, tracer, ceilings, steps, outDir).Run(modes);
        var report = new ProfileReport(1, provenance, ProfileSuite.Method, points);
        string json = JsonSerializer.Serialize(report, Json);
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "profile.json"), json);
        if (!ctx.Settings.Json) Print(console, points);
        console.Line($"wrote {Path.Combine(outDir, "profile.json")} and {points.Count} timelines");
        if (ctx.Settings.Json)
            JsonReport.Write(ctx, "profile", device, new { files = new[] { Path.Combine(outDir, "profile.json") }, report = JsonNode.Parse(json) });
        return ExitCodes.Ok;
    }

    private static void Print(CliConsole console, IReadOnlyList<ProfilePoint> points)
    {
        var t = console.Table("profile (median traced step)");
        foreach (var c in new[] { "n", "mode", "wall ms", "traced", "busy ms", "busy/wall", "kernels", "gaps", "gap sum us", "gap median us",
                     "largest gap us", "floor ms", "wall/floor" })
            t.AddColumn(new TableColumn(c).RightAligned());
        foreach (var p in points)
            t.AddRow(p.Tokens.ToString(), p.Mode, $"{p.WallMs:F3}", $"{p.TracingOverhead:P1}", $"{p.BusyMs:F3}", $"{p.BusyFraction:P0}",
                p.Kernels.ToString(), p.Gaps.ToString(), $"{p.GapSumUs:F1}", $"{p.GapMedianUs:F2}", $"{p.GapLargestUs:F1}",
                $"{p.FloorMs:F3}", $"{p.FloorRatio:F2}x");
        console.Render(t);
        foreach (var p in points)
            console.Line($"n={p.Tokens} {p.Mode}: top kernels " + string.Join("; ", p.TopKernels.Select(k => $"{k.Name} x{k.Count} {k.Us:F1} us ({k.Share:P0})")) +
                         (p.GapBefore is null ? "" : $"; largest gap between {p.GapBefore} and {p.GapAfter}"));
    }
}
