using System.Diagnostics;
using GraphEngine.Conformance;
using GraphEngine.Hosting.Reliability;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// `graphengine faults`: the fault matrix (<see cref="FaultMatrix"/>) on the chosen device, plus the corrupt kernel-cache
/// entry case the conformance suite already has (cuda/kernel-disk-cache: a flipped byte in a cached cubin is detected and
/// rebuilt). One line per fault, "survived NAME: what held" or "FAILED NAME: what did not", then
/// "N faults injected: N survived, N failed" as the last line; exit 1 when any fault was not survived.
/// </summary>
public static class FaultsCommand
{
    /// <summary>The conformance case reused for the corrupt kernel-cache entry, rather than written twice.</summary>
    public const string KernelCacheCase = "cuda/kernel-disk-cache";

    /// <summary>The matrix's cases and the kernel-cache case, in the order they run.</summary>
    public static IReadOnlyList<FaultCase> All()
    {
        var cache = ConformanceSuite.All.Single(c => c.Name == KernelCacheCase);
        var cases = FaultMatrix.Cases.ToList();
        cases.Add(new FaultCase("kernel-cache/corrupt-entry", d =>
        {
            var r = ConformanceSuite.RunOne(cache, d);
            return new FaultOutcome(r.Passed, $"{KernelCacheCase}: {r.Detail}");
        }));
        return cases;
    }

    public static int Execute(CommandContext ctx, string? filter)
    {
        var console = ctx.Console;
        var parts = filter?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? Array.Empty<string>();
        var cases = All().Where(c => parts.Length == 0 || parts.Any(p => c.Name.Contains(p, StringComparison.OrdinalIgnoreCase))).ToList();
        if (cases.Count == 0)
            throw new UsageException($"--filter {InputText.Quote(filter)} selects no fault case ({string.Join(", ", All().Select(c => c.Name.Split('/')[0]).Distinct())} ...)");

        using var device = ctx.OpenDevice();
        console.Line($"device: {device.Info}; commit {BuildInfo.Describe()}");
        var wall = Stopwatch.StartNew();
        var rows = new List<(string Name, FaultOutcome Outcome, double Ms)>();
        foreach (var c in cases)
        {
            var sw = Stopwatch.StartNew();
            var outcome = FaultMatrix.Run(c, device);
            rows.Add((c.Name, outcome, sw.Elapsed.TotalMilliseconds));
            console.Line($"{(outcome.Survived ? "survived" : "FAILED")} {c.Name}: {InputText.OneLine(outcome.Detail)}");
        }
        int survived = rows.Count(r => r.Outcome.Survived), failed = rows.Count - survived;
        if (ctx.Settings.Json)
            JsonReport.Write(ctx, "faults", device, new
            {
                injected = rows.Count, survived, failed, wallSeconds = Math.Round(wall.Elapsed.TotalSeconds, 3),
                faults = rows.Select(r => new { name = r.Name, survived = r.Outcome.Survived, detail = r.Outcome.Detail, ms = Math.Round(r.Ms, 2) }),
            });
        console.Line($"{rows.Count} faults injected in {wall.Elapsed.TotalSeconds:F1} s: {survived} survived, {failed} failed");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }
}
