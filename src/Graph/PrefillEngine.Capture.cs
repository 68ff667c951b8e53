using System.Diagnostics;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Diagnostics;
using GraphEngine.Layers;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Graph;

// Capture: warm-up, largest size first, failures fall back to eager with the error, the plan of units.
public sealed partial class PrefillEngine
{
    /// <summary>
    /// Captures every capturable layer (Layer granularity) or segment (Segment granularity) at every size,
    /// largest first: an eager warm-up at that size (so cuBLASLt picks its algorithm and NVRTC compiles
    /// outside capture), then the capture on <see cref="Stream"/>. A capture that throws is aborted and
    /// its layer marked eager with the error; a segment that fails is split around the failing layer and
    /// its parts captured again. Earlier graphs are dropped first.
    /// </summary>
    public CaptureReport Capture(IProgress<CaptureProgress>? progress = null)
    {
        ThrowIfDisposed();
        using var _ = Enter(nameof(Capture));
        if (Stream.IsCapturing) throw new InvalidOperationException("the engine's stream is already capturing");
        // Earlier graphs of a unit that is captured again over the same layers are updated in place
        // (cuGraphExecUpdate: no new exec, no new instantiation memory when the topology holds); the
        // rest are destroyed at the end.
        var previous = TakeGraphs();
        _captured = false;
        foreach (var s in _slots) s.Static = StaticReason(s.Layer);

        var sw = Stopwatch.StartNew();
        var entries = new List<CaptureEntry>();
        var failed = new List<string>();
        var units = new List<Unit>();
        var queue = new Queue<(int First, int Last)>(InitialRanges());
        int total = queue.Count * _sizes.Length, done = 0;
        bool freeMeasured = false;
        Unit? unit = null;

        try
        {
            Stream.Synchronize();
            while (queue.Count > 0)
            {
                var (first, last) = queue.Dequeue();
                unit = new Unit(UnitName(first, last), first, last, _sizes.Length);
                int captured = 0;
                for (int si = _sizes.Length - 1; si >= 0; si--)
                {
                    int size = _sizes[si];
                    progress?.Report(new CaptureProgress(done, total, unit.Name, size));
                    WarmUp(first, last, size);
                    if (!TryCaptureOnce(unit, si, previous, out int culprit, out string error, ref freeMeasured))
                    {
                        unit.DisposeGraphs();
                        total -= _sizes.Length - captured;
                        var retry = OnCaptureFailure(first, last, culprit, error, failed);
                        foreach (var r in retry) queue.Enqueue(r);
                        total += retry.Count * _sizes.Length;
                        unit = null;
                        break;
                    }
                    captured++;
                    done++;
                }
                if (unit is null) continue;
                units.Add(unit);
                for (int si = _sizes.Length - 1; si >= 0; si--)
                    entries.Add(new CaptureEntry(unit.Name, _sizes[si], unit.CaptureMs[si], unit.InstantiateMs[si], unit.Bytes[si], unit.Graphs![si]!.NodeCount));
                unit = null;
            }
        }
        catch
        {
            // A layer that cannot even run eagerly is a bug in the layer, not a capture fallback: leave the
            // engine uncaptured (everything eager) and let the caller see the error.
            unit?.DisposeGraphs();      // the unit being captured when the error came (idempotent if already listed)
            foreach (var u in units) u.DisposeGraphs();
            foreach (var g in previous.Values) g.Dispose();
            _plan = BuildPlan(Array.Empty<Unit>());
            _lastWrittenN = -1;
            throw;
        }

        foreach (var g in previous.Values) g.Dispose();
        units.Sort((a, b) => a.First.CompareTo(b.First));
        _plan = BuildPlan(units);
        _captured = true;
        _lastWrittenN = -1;     // warm-ups wrote their sizes into the token count
        progress?.Report(new CaptureProgress(done, total, "", 0));

        var report = new CaptureReport(entries, failed, entries.Count,
            entries.Sum(e => e.CaptureMs), entries.Sum(e => e.InstantiateMs), entries.Sum(e => e.GraphBytes),
            sw.Elapsed.TotalMilliseconds, freeMeasured);
        _logger?.LogInformation("captured {Graphs} graphs ({Units} {Granularity}s x {Sizes} sizes) in {Ms:0.0} ms, {Bytes} bytes of graph memory; {Failed} capture failures",
            report.Graphs, units.Count, Options.Granularity.ToString().ToLowerInvariant(), _sizes.Length, report.ElapsedMs, report.GraphBytes, failed.Count);
        return report;
    }

    /// <summary>Drops every graph and captures again (after weights were reallocated or the stack changed).</summary>
    public CaptureReport Recapture(IProgress<CaptureProgress>? progress = null) => Capture(progress);

    private void WarmUp(int first, int last, int size)
    {
        Stream.Fill32Async(Context.TokenCount, (uint)size, 1);
        for (int i = first; i <= last; i++)
        {
            try
            {
                _slots[i].Layer.Forward(Stream, size);
            }
            catch (Exception e)
            {
                throw new GraphEngineException($"layer '{_slots[i].Layer.Name}' failed its eager warm-up at {size} tokens: {e.Message}", e);
            }
        }
        Stream.Synchronize();
    }

    /// <summary>Moves every graph out of the plan, keyed by (first layer, last layer, size index), for reuse as update targets.</summary>
    private Dictionary<(int, int, int), DeviceGraph> TakeGraphs()
    {
        var taken = new Dictionary<(int, int, int), DeviceGraph>();
        foreach (var u in _plan)
        {
            if (u.Graphs is not { } graphs) continue;
            for (int si = 0; si < graphs.Length; si++)
                if (graphs[si] is { } g) taken[(u.First, u.Last, si)] = g;
            u.ForgetGraphs();
        }
        _plan = BuildPlan(Array.Empty<Unit>());
        return taken;
    }

    private bool TryCaptureOnce(Unit unit, int si, Dictionary<(int, int, int), DeviceGraph> previous,
        out int culprit, out string error, ref bool freeMeasured)
    {
        int size = _sizes[si];
        var key = (unit.First, unit.Last, si);
        previous.TryGetValue(key, out var target);
        long allocBefore = Device.AllocatedBytes;
        bool hasFree = Device.TryGetFreeMemory(out long freeBefore);
        long t0 = Stopwatch.GetTimestamp();
        // Diagnostics: the fault matrix arms a plan on the device to fail capture at its three points (null normally).
        var faults = Device.Faults;
        int k = -1;     // a failure to begin names no single layer either
        DeviceGraph graph;
        try
        {
            faults?.Check(FaultPoint.CaptureBegin, UnitLayerNames(unit));
            Stream.BeginCapture();
            for (k = unit.First; k <= unit.Last; k++)
            {
                _slots[k].Layer.Forward(Stream, size);
                faults?.Check(FaultPoint.LayerCapture, _slots[k].Layer.Name);
            }
            k = -1;     // past the layers: a failure now is EndCapture's and names no single layer
            graph = Stream.EndCapture(target);
            if (faults is not null) FailInstantiated(faults, unit, graph, target);
            if (target is not null) previous.Remove(key);    // now the unit's; a failed update leaves it for disposal
        }
        catch (Exception e)
        {
            Stream.AbortCapture();
            culprit = k;
            error = $"{e.GetType().Name} at {size} tokens: {e.Message}";
            return false;
        }
        double totalMs = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        long bytes = Math.Max(0, Device.AllocatedBytes - allocBefore);
        if (hasFree && Device.TryGetFreeMemory(out long freeAfter))
        {
            // The driver's view includes what instantiation took outside our allocator.
            bytes = Math.Max(bytes, freeBefore - freeAfter);
            freeMeasured = true;
        }
        unit.Graphs![si] = graph;
        unit.InstantiateMs[si] = graph.InstantiateTime.TotalMilliseconds;
        unit.CaptureMs[si] = Math.Max(0, totalMs - unit.InstantiateMs[si]);
        unit.Bytes[si] = bytes;
        culprit = -1;
        error = "";
        return true;
    }

    /// <summary>A CaptureEnd fault after instantiation: the new graph is destroyed (an update target stays with the earlier graphs for disposal).</summary>
    private void FailInstantiated(FaultPlan faults, Unit unit, DeviceGraph graph, DeviceGraph? target)
    {
        try
        {
            faults.Check(FaultPoint.CaptureEnd, UnitLayerNames(unit));
        }
        catch
        {
            if (!ReferenceEquals(graph, target)) graph.Dispose();
            throw;
        }
    }

    private string[] UnitLayerNames(Unit unit)
    {
        var names = new string[unit.Last - unit.First + 1];
        for (int i = 0; i < names.Length; i++) names[i] = _slots[unit.First + i].Layer.Name;
        return names;
    }

    /// <summary>Marks the layer that failed eager and returns the ranges to capture again.</summary>
    private List<(int, int)> OnCaptureFailure(int first, int last, int culprit, string error, List<string> failed)
    {
        var retry = new List<(int, int)>();
        if (culprit < 0 && first != last)
        {
            // EndCapture failed for a multi-layer segment: capture its layers one by one to find the culprit.
            for (int i = first; i <= last; i++) retry.Add((i, i));
            _logger?.LogWarning("capture of segment {Segment} failed ({Error}); retrying its layers one by one", UnitName(first, last), error);
            return retry;
        }
        int bad = culprit < 0 ? first : culprit;
        var slot = _slots[bad];
        slot.Static = FallbackReason.CaptureFailed(error);
        failed.Add(slot.Layer.Name);
        _logger?.LogWarning("layer '{Layer}' runs eagerly: {Reason}", slot.Layer.Name, slot.Static.Value.Text);
        if (bad > first) retry.Add((first, bad - 1));
        if (bad < last) retry.Add((bad + 1, last));
        return retry;
    }

    private IEnumerable<(int, int)> InitialRanges()
    {
        if (Options.Granularity == Granularity.Layer)
        {
            for (int i = 0; i < _slots.Count; i++)
                if (_slots[i].Static is null) yield return (i, i);
            yield break;
        }
        int start = -1;
        bool firstRun = true;
        for (int i = 0; i <= _slots.Count; i++)
        {
            bool capturable = i < _slots.Count && _slots[i].Static is null;
            if (capturable && start < 0) start = i;
            if (!capturable && start >= 0)
            {
                bool ramp = firstRun && i - start > RampMinLayers;
                foreach (var piece in SegmentPieces(start, i - 1, ramp, Options.MaxSegmentLayers)) yield return piece;
                firstRun = false;
                start = -1;
            }
        }
    }

    /// <summary>Longest first run that is captured whole rather than as a launch ramp.</summary>
    internal const int RampMinLayers = 8;

    /// <summary>
    /// Cuts the run of capturable layers [first, last] into segments of at most <paramref name="cap"/> layers (0 = no cap).
    /// The step's first run is a launch ramp of 1, 2, 4, ... layers: the GPU sits idle from the token-count write until the
    /// first graph is submitted, and cuGraphLaunch takes host time that grows with the graph (0.150 ms for the whole
    /// 385-kernel ERNIE-4.5 step at 74c5457 on the H200, GPU idle meanwhile, against 0.073 ms for five 32-layer graphs), so
    /// the first graph is one layer and each next one, twice the last, is submitted while the GPU runs the ones before.
    /// Later runs follow an eager step the host has already queued behind work, and a first run of at most
    /// <see cref="RampMinLayers"/> layers launches in a few microseconds, so those stay whole.
    /// </summary>
    internal static IEnumerable<(int First, int Last)> SegmentPieces(int first, int last, bool ramp, int cap)
    {
        int most = cap > 0 ? cap : int.MaxValue, size = ramp ? 1 : most;
        while (first <= last)
        {
            int take = (int)Math.Min(Math.Min(size, most), (long)last - first + 1);
            yield return (first, first + take - 1);
            first += take;
            size = size >= most / 2 ? most : size * 2;
        }
    }

    private string UnitName(int first, int last) =>
        Options.Granularity == Granularity.Layer ? _slots[first].Layer.Name
            : first == last ? $"segment[{_slots[first].Layer.Name}]"
            : $"segment[{_slots[first].Layer.Name}..{_slots[last].Layer.Name}]";

    private FallbackReason? StaticReason(Layer layer)
    {
        if (layer is EagerStep) return FallbackReason.SplitPoint();
        if (!Options.Enabled) return FallbackReason.Disabled();
        if (Options.ExcludedBy(layer.Name) is { } pattern) return FallbackReason.ExcludedBy(pattern);
        var cap = layer.Capturability;
        if (!cap.CanCapture) return FallbackReason.NotCapturable(cap.Reason);
        return null;
    }

    /// <summary>The execution plan: captured units in order, with a one-layer eager unit for every other layer.</summary>
    private Unit[] BuildPlan(IReadOnlyList<Unit> captured)
    {
        var plan = new List<Unit>();
        int next = 0;
        foreach (var u in captured)
        {
            for (; next < u.First; next++) plan.Add(EagerUnit(next));
            plan.Add(u);
            next = u.Last + 1;
        }
        for (; next < _slots.Count; next++) plan.Add(EagerUnit(next));
        foreach (var u in plan)
            for (int i = u.First; i <= u.Last; i++) _slots[i].Unit = u;
        return plan.ToArray();
    }

    private Unit EagerUnit(int i) => new(_slots[i].Layer.Name, i, i, 0);
}
