using System.CommandLine;
using System.Globalization;
using GraphEngine.Graph;
using GraphEngine.Hosting.Reliability;

namespace GraphEngine.Cli.Commands;

/// <summary>The switches of `graphengine soak`, checked before the device opens.</summary>
internal sealed class SoakCommandLine
{
    /// <summary>The issue's count: a million replays, minutes on the H200 with the tiny preset.</summary>
    public const int DefaultReplays = 1_000_000;

    /// <summary>Largest --replays: a billion steps of the tiny preset would run for about a day, so more is a typo.</summary>
    public const int MaxReplays = 1_000_000_000;

    public readonly Option<string> Replays = new("--replays") { Description = $"Steps to replay, 1 to {MaxReplays}; default {DefaultReplays}" };
    public readonly Option<string> Seed = new("--seed") { Description = "Seed of the token counts and the checked step's inputs (default 1)" };

    public Option[] All => new Option[] { Replays, Seed };

    public (long Replays, ulong Seed) Bind(ParseResult pr) =>
        (Whole(pr.GetValue(Replays), "--replays", DefaultReplays, 1, MaxReplays), (ulong)Whole(pr.GetValue(Seed), "--seed", 1, 0, int.MaxValue));

    private static int Whole(string? text, string option, int dflt, int min, int max) =>
        text is null ? dflt : OptionValues.Int(text, option, min, max);
}

/// <summary>
/// `graphengine soak`: builds the preset, captures it, and replays <c>--replays</c> steps at mixed token counts
/// (<see cref="SoakRun"/>): prints the memory at start, after the warm-up and at the end, the growth of each figure
/// against its threshold, and whether the last step equals the first at the same n bit for bit; progress at most once
/// per 10 s on stderr. Exit 1 on growth above a threshold or a mismatch.
/// </summary>
public static class SoakCommand
{
    public static int Execute(CommandContext ctx, (long Replays, ulong Seed) args)
    {
        var console = ctx.Console;
        var st = ctx.Settings;
        // Bound before the device opens, so a bad size or flag costs no device start-up.
        var options = ModelSession.BindOptions(ctx, st.Preset.MaxTokens);
        st.RequireQuantFits();
        using var device = ctx.OpenDevice();
        console.Line($"device: {device.Info}; commit {BuildInfo.Describe()}");
        console.Line($"preset: {st.Preset}; quant {st.Quant.Label}; graphs: {(options.Enabled ? $"{options.Granularity}, sizes {ListingView.Sizes(options.Sizes)}" : "disabled")}");
        using var session = ModelSession.Create(ctx, device, st.Preset, st.Quant, options, quiet: st.Json);
        var report = SoakRun.Run(session.Model, args.Replays, args.Seed, (done, elapsed) =>
        {
            try
            {
                console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"soak: {done}/{args.Replays} replays ({100.0 * done / args.Replays:F1}%) in {elapsed.TotalSeconds:F0} s, {elapsed.TotalMilliseconds * 1e3 / done:F1} µs per replay"));
            }
            catch (IOException)
            {
                // A closed stderr must not stop a soak; the result still comes on stdout.
            }
        });
        if (st.Json)
        {
            JsonReport.Write(ctx, "soak", device, new
            {
                replays = report.Replays, warmupReplays = report.WarmupReplays, seconds = Math.Round(report.Seconds, 3),
                microsecondsPerReplay = Math.Round(report.MicrosecondsPerReplay, 3), graphReplays = report.GraphReplays,
                checkTokens = report.CheckTokens, identical = report.Mismatch is null, mismatch = report.Mismatch,
                start = report.Start, afterWarmup = report.AfterWarmup, end = report.End,
                growth = report.Growth.Select(g => new { what = g.What, bytes = g.Bytes, threshold = g.Threshold, passed = g.Passed }),
                passed = report.Passed,
            });
            return report.Passed ? ExitCodes.Ok : ExitCodes.Failed;
        }
        console.Line(string.Create(CultureInfo.InvariantCulture,
            $"replayed {report.Replays} steps ({report.WarmupReplays} warm-up) at {report.StepsPerTokens.Count} token counts in {report.Seconds:F1} s " +
            $"({report.MicrosecondsPerReplay:F1} µs per step); {report.GraphReplays} graph launches"));
        console.Line($"start:        {report.Start}");
        console.Line($"after warm-up: {report.AfterWarmup}");
        console.Line($"end:          {report.End}");
        foreach (var g in report.Growth) console.Line($"{(g.Passed ? "ok  " : "FAIL")} growth of {g}");
        console.Line(report.Mismatch is null
            ? $"ok   the last step at n={report.CheckTokens} is bit-identical to the first"
            : $"FAIL {report.Mismatch}");
        console.Line(report.Passed ? "soak passed" : "soak failed");
        return report.Passed ? ExitCodes.Ok : ExitCodes.Failed;
    }
}
