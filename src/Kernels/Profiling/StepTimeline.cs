namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// What the GPU did during one step, from its activity records: span, busy time (the union of the records'
/// intervals, so kernels overlapping on different streams count once), idle gaps, and time per kernel family.
/// Pure analysis: no native code, so it runs the same on CI as on the GPU machine.
/// </summary>
public sealed class StepTimeline
{
    private readonly Func<string, string> _classifier;

    private StepTimeline(KernelRecord[] sorted, Func<string, string> classifier)
    {
        _classifier = classifier;
        Records = sorted;
        StartNs = sorted[0].StartNs;
        EndNs = sorted.Max(r => r.EndNs);
        var busy = Union(sorted);
        BusyIntervals = busy;
        BusyNs = busy.Aggregate(0UL, (sum, b) => sum + b.LengthNs);
        Gaps = SummarizeGaps(sorted, busy);
        var own = Exclusive(sorted);
        ExclusiveNs = own;
        Families = Totals(sorted, own, classifier);
        Streams = sorted.Select(r => r.StreamId).Distinct().Order().ToArray();
        KernelCount = sorted.Count(r => r.Kind == RecordKind.Kernel);
    }

    /// <summary>The step's records sorted by start (then end).</summary>
    public IReadOnlyList<KernelRecord> Records { get; }

    /// <summary>Earliest record start, CUPTI nanoseconds.</summary>
    public ulong StartNs { get; }
    /// <summary>Latest record end, CUPTI nanoseconds.</summary>
    public ulong EndNs { get; }

    /// <summary>First start to last end.</summary>
    public ulong SpanNs => EndNs - StartNs;

    /// <summary>Length of the union of all record intervals.</summary>
    public ulong BusyNs { get; }

    /// <summary>Span minus busy: time no record was running.</summary>
    public ulong IdleNs => SpanNs - BusyNs;

    /// <summary>Busy over span; 1 for a step whose only records take no time, since nothing was idle.</summary>
    public double BusyShare => SpanNs == 0 ? 1.0 : (double)BusyNs / SpanNs;

    /// <summary>Records of kind <see cref="RecordKind.Kernel"/> (memcpys and memsets not counted).</summary>
    public int KernelCount { get; }

    /// <summary>Records of every kind.</summary>
    public int RecordCount => Records.Count;
    /// <summary>The stream ids that ran records, ascending.</summary>
    public IReadOnlyList<uint> Streams { get; }
    /// <summary>The maximal busy stretches, in time order.</summary>
    public IReadOnlyList<BusyInterval> BusyIntervals { get; }
    /// <summary>Count, total, median and largest idle gap between busy stretches, and the records around the largest.</summary>
    public GapSummary Gaps { get; }

    /// <summary>
    /// Per record (in <see cref="Records"/>' order), its time past the end of the records before it on its stream. A
    /// programmatic dependent launch starts while the kernel before it runs and waits inside (griddepcontrol.wait);
    /// CUPTI counts that wait in its duration, so durations on one stream overlap and their sum exceeds the busy time.
    /// On separate streams records really run together and keep their whole duration.
    /// </summary>
    public IReadOnlyList<ulong> ExclusiveNs { get; }

    /// <summary>Per-family totals of <see cref="ExclusiveNs"/>, largest first (ties by name).</summary>
    public IReadOnlyList<FamilyTotal> Families { get; }

    /// <summary>The family the timeline's classifier assigns to <paramref name="record"/>.</summary>
    public string FamilyOf(in KernelRecord record) => _classifier(record.Name);

    /// <summary>
    /// Analyses one step. <paramref name="classifier"/> maps a record's name to its family
    /// (default <see cref="KernelFamilies.Classify"/>). Throws <see cref="ArgumentException"/> for an empty list or a
    /// record that ends before it starts.
    /// </summary>
    public static StepTimeline Analyze(IReadOnlyList<KernelRecord> records, Func<string, string>? classifier = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
            throw new ArgumentException("a step timeline needs at least one record; the step has none", nameof(records));
        foreach (var r in records)
            if (r.EndNs < r.StartNs)
                throw new ArgumentException(
                    $"record '{r.Name}' ends ({r.EndNs} ns) before it starts ({r.StartNs} ns)", nameof(records));
        return new StepTimeline(Sorted(records), classifier ?? KernelFamilies.Default);
    }

    /// <summary>
    /// Splits a trace into steps by host-side marks on CUPTI's clock (<see cref="CuptiTracer.Timestamp"/>), taken
    /// after synchronizing so the GPU has finished the step before it: step i holds the records starting in
    /// [boundaries[i], boundaries[i+1]). n+1 marks give n steps; records outside the first and last mark are dropped.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<KernelRecord>> SplitAt(IReadOnlyList<KernelRecord> trace,
        IReadOnlyList<ulong> boundariesNs)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(boundariesNs);
        if (boundariesNs.Count < 2)
            throw new ArgumentException($"need at least two step boundaries, got {boundariesNs.Count}", nameof(boundariesNs));
        for (int i = 1; i < boundariesNs.Count; i++)
            if (boundariesNs[i] <= boundariesNs[i - 1])
                throw new ArgumentException(
                    $"step boundaries must increase: [{i - 1}] = {boundariesNs[i - 1]} ns, [{i}] = {boundariesNs[i]} ns",
                    nameof(boundariesNs));
        var steps = new List<KernelRecord>[boundariesNs.Count - 1];
        for (int i = 0; i < steps.Length; i++) steps[i] = new List<KernelRecord>();
        foreach (var r in Sorted(trace))
        {
            if (r.StartNs < boundariesNs[0] || r.StartNs >= boundariesNs[^1]) continue;
            int step = UpperBound(boundariesNs, r.StartNs) - 1;
            steps[step].Add(r);
        }
        return steps;
    }

    /// <summary>
    /// Splits a trace of identical steps into groups of <paramref name="recordsPerStep"/> consecutive records (by
    /// start). The trace must hold a whole number of steps: a remainder means the count per step is wrong, and
    /// silently dropping it would misattribute every later step.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<KernelRecord>> SplitByCount(IReadOnlyList<KernelRecord> trace,
        int recordsPerStep)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(recordsPerStep);
        if (trace.Count % recordsPerStep != 0)
            throw new ArgumentException(
                $"{trace.Count} records do not split into steps of {recordsPerStep} ({trace.Count % recordsPerStep} left over)",
                nameof(recordsPerStep));
        var sorted = Sorted(trace);
        var steps = new List<IReadOnlyList<KernelRecord>>(sorted.Length / recordsPerStep);
        for (int i = 0; i < sorted.Length; i += recordsPerStep)
            steps.Add(sorted.AsSpan(i, recordsPerStep).ToArray());
        return steps;
    }

    private static KernelRecord[] Sorted(IReadOnlyList<KernelRecord> records)
    {
        var a = records.ToArray();
        // Stable: equal (start, end) keep the caller's order, so names in the gap summary are reproducible.
        return a.Select((r, i) => (r, i))
            .OrderBy(x => x.r.StartNs).ThenBy(x => x.r.EndNs).ThenBy(x => x.i)
            .Select(x => x.r).ToArray();
    }

    private static int UpperBound(IReadOnlyList<ulong> sorted, ulong value)
    {
        int lo = 0, hi = sorted.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] <= value) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private static BusyInterval[] Union(KernelRecord[] sorted)
    {
        var result = new List<BusyInterval>();
        ulong start = sorted[0].StartNs, end = sorted[0].EndNs;
        int first = 0, last = 0;
        for (int i = 1; i < sorted.Length; i++)
        {
            var r = sorted[i];
            if (r.StartNs <= end)
            {
                if (r.EndNs > end)
                {
                    end = r.EndNs;
                    last = i;
                }
                continue;
            }
            result.Add(new BusyInterval(start, end, first, last));
            start = r.StartNs;
            end = r.EndNs;
            first = last = i;
        }
        result.Add(new BusyInterval(start, end, first, last));
        return result.ToArray();
    }

    private static GapSummary SummarizeGaps(KernelRecord[] sorted, BusyInterval[] busy)
    {
        if (busy.Length < 2) return new GapSummary(0, 0, 0, 0, null, null);
        var gaps = new ulong[busy.Length - 1];
        int largest = 0;
        for (int i = 0; i < gaps.Length; i++)
        {
            gaps[i] = busy[i + 1].StartNs - busy[i].EndNs;
            if (gaps[i] > gaps[largest]) largest = i;
        }
        ulong total = gaps.Aggregate(0UL, (s, g) => s + g);
        var ordered = gaps.Order().ToArray();
        int n = ordered.Length;
        double median = n % 2 == 1 ? ordered[n / 2] : (ordered[n / 2 - 1] + (double)ordered[n / 2]) / 2;
        return new GapSummary(n, total, median, gaps[largest],
            sorted[busy[largest].LastIndex].Name, sorted[busy[largest + 1].FirstIndex].Name);
    }

    private static ulong[] Exclusive(KernelRecord[] sorted)
    {
        var own = new ulong[sorted.Length];
        var lastEnd = new Dictionary<uint, ulong>();
        for (int i = 0; i < sorted.Length; i++)
        {
            var r = sorted[i];
            ulong from = lastEnd.TryGetValue(r.StreamId, out var end) ? Math.Max(r.StartNs, end) : r.StartNs;
            own[i] = r.EndNs > from ? r.EndNs - from : 0;
            lastEnd[r.StreamId] = Math.Max(end, r.EndNs);
        }
        return own;
    }

    private static FamilyTotal[] Totals(KernelRecord[] sorted, ulong[] own, Func<string, string> classifier)
    {
        var byFamily = new Dictionary<string, (int Count, ulong Total)>();
        ulong all = 0;
        for (int i = 0; i < sorted.Length; i++)
        {
            string family = classifier(sorted[i].Name);
            byFamily.TryGetValue(family, out var t);
            byFamily[family] = (t.Count + 1, t.Total + own[i]);
            all += own[i];
        }
        return byFamily
            .Select(kv => new FamilyTotal(kv.Key, kv.Value.Count, kv.Value.Total, all == 0 ? 0 : (double)kv.Value.Total / all))
            .OrderByDescending(f => f.TotalNs).ThenBy(f => f.Family, StringComparer.Ordinal)
            .ToArray();
    }
}
