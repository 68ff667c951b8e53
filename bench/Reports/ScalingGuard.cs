namespace GraphEngine.Bench.Reports;

/// <summary>A series (ours or a peer's, one shape or stack over its sizes) whose time does not grow with its size.</summary>
public sealed record ScalingFlag(string Who, string Series, string Reason, IReadOnlyList<string> Keys);

/// <summary>
/// Flags series whose time does not grow with their size: a kernel or step that does more work at a larger n but
/// takes less time is a broken measurement (a cached result, work skipped, a replay of the wrong size) until shown
/// otherwise. A flagged series is recorded in the report's flags and its missing list and marked in bench.md;
/// it is never silently accepted.
/// </summary>
public static class ScalingGuard
{
    /// <summary>The time at the largest size may not be below this fraction of the time at the smallest.</summary>
    public const double LastOverFirst = 0.8;

    /// <summary>Nor may one size's time be below the previous (smaller) size's by more than this factor.</summary>
    public const double StepDrop = 1.5;

    public const string Marker = "†";
    public const string Legend = Marker + " time does not grow with size (flagged: see \"Flagged timings\"; not to be trusted as is)";

    /// <summary>Why the series (any order) does not grow with its size, or null when it does; NaN points are left out.</summary>
    public static string? Check(IEnumerable<(int N, double Ms)> series)
    {
        var pts = series.Where(p => double.IsFinite(p.Ms) && p.Ms > 0).OrderBy(p => p.N).ToArray();
        if (pts.Length < 2) return null;
        var (first, last) = (pts[0], pts[^1]);
        if (last.N > first.N && last.Ms < LastOverFirst * first.Ms)
            return $"{F(last.Ms)} ms at n={last.N} is below {LastOverFirst} x the {F(first.Ms)} ms at n={first.N}";
        for (int i = 1; i < pts.Length; i++)
            if (pts[i].N > pts[i - 1].N && pts[i].Ms * StepDrop < pts[i - 1].Ms)
                return $"{F(pts[i].Ms)} ms at n={pts[i].N} is more than {StepDrop}x below the {F(pts[i - 1].Ms)} ms at n={pts[i - 1].N}";
        return null;
    }

    /// <summary>Checks every series of the report (ours and the peers', prefill and kernels) and records the flagged ones.</summary>
    public static void Apply(BenchReport r)
    {
        foreach (var g in r.Kernels.GroupBy(k => (k.Family, k.Variant, k.Shape)))
        {
            string series = $"{g.Key.Family} {g.Key.Variant} {g.Key.Shape}";
            var keys = g.Select(k => (k.Tokens, Key: BenchReport.KernelKey(k.Family, k.Variant, k.Shape, k.Tokens))).ToList();
            Flag(r, "ours", series, keys.Select(k => k.Key).ToList(), g.Select(k => (k.Tokens, k.Ms)));
            FlagPeer(r, series, keys);
        }
        foreach (var g in r.Prefill.GroupBy(p => (p.Preset, p.Quant)))
        {
            foreach (var mode in g.GroupBy(p => p.Mode))
            {
                var keys = mode.Select(p => BenchReport.PrefillKey(p.Preset, p.Quant, p.Mode, p.Tokens)).ToList();
                Flag(r, "ours", $"prefill {g.Key.Preset} ({g.Key.Quant}) {mode.Key}", keys, mode.Select(p => (p.Tokens, p.WallMs)));
            }
            var tokens = g.Select(p => p.Tokens).Distinct().ToList();
            foreach (var tm in new[] { "eager", "graph" })
                FlagPeer(r, $"prefill {g.Key.Preset} ({g.Key.Quant}) torch {tm}",
                    tokens.Select(n => (n, BenchReport.PrefillKey(g.Key.Preset, g.Key.Quant, tm, n))).ToList());
        }
    }

    private static void FlagPeer(BenchReport r, string series, IReadOnlyList<(int N, string Key)> keys)
    {
        var times = keys.Select(k => (k.N, k.Key, Peer: r.Peer(k.Key))).Where(k => k.Peer?.Ms is not null).ToList();
        if (times.Count == 0) return;
        Flag(r, times[0].Peer!.Name, series, times.Select(t => t.Key).ToList(), times.Select(t => (t.N, t.Peer!.Ms!.Value)));
    }

    private static void Flag(BenchReport r, string who, string series, IReadOnlyList<string> keys, IEnumerable<(int, double)> points)
    {
        if (Check(points) is not { } why) return;
        r.Flags.Add(new ScalingFlag(who, series, why, keys));
        r.Missing.Add(new Missing($"{who}: {series}", $"flagged: time does not grow with size: {why}"));
    }

    private static string F(double ms) => ReportWriters.F(ms, 4);
}
