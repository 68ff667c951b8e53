using System.Diagnostics;
using System.Text;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Graph;

/// <summary>
/// The block-wise CUDA graph engine. Layers are added in execution order and read and write fixed,
/// engine-owned [MaxTokens, width] activations; <see cref="Capture"/> records each capturable layer (or
/// each run of consecutive capturable layers, in Segment granularity) once per configured size, largest
/// first, into graphs that all point at those same buffers; <see cref="Prefill"/> writes the step's token
/// count to the device once and replays, for each layer, the graph of the smallest size >= n, running
/// eagerly whatever cannot be replayed and recording why. Not thread-safe: one thread drives one engine;
/// engines on separate threads (each with its own stream) do not interfere.
/// </summary>
public sealed class PrefillEngine : IDisposable
{
    private readonly ILogger? _logger;
    private readonly bool _debug;
    private readonly int[] _sizes;
    private readonly int[] _bucketOf;           // n -> index into _sizes of the smallest size >= n; -1 above the largest
    private readonly List<Slot> _slots = new();
    private readonly Dictionary<Layer, Slot> _slotOf = new(ReferenceEqualityComparer.Instance);
    private readonly List<Layer> _layers = new();
    private readonly List<PoolBlock> _activations = new();
    private readonly PoolBlock _tokenCount;
    private Unit[] _plan = Array.Empty<Unit>();
    private bool _captured;
    private int _lastWrittenN = -1;
    private long _steps;
    private long _stepsAboveLargest;
    private bool _disposed;

    public PrefillEngine(Device device, BlockWiseGraphOptions options, int maxTokens, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        if (maxTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "MaxTokens must be >= 1");
        var sizes = options.Sizes ?? throw new ArgumentException("options.Sizes is null", nameof(options));
        // The built-in list runs to 2048; an engine with fewer tokens simply has fewer sizes. So does one
        // with graphs off, where sizes mean nothing. A list someone wrote must fit.
        if (ReferenceEquals(sizes, BlockWiseGraphOptions.DefaultSizes) || !options.Enabled)
            sizes = sizes.Where(s => s >= 1 && s <= maxTokens).ToArray();
        foreach (var s in sizes)
            if (s < 1 || s > maxTokens)
                throw new ArgumentOutOfRangeException(nameof(options), s, $"graph size {s} must be in [1, MaxTokens={maxTokens}]");
        if (options.Enabled && sizes.Count == 0)
            throw new ArgumentException("graphs are enabled but options.Sizes is empty; list a size or set Enabled = false", nameof(options));

        Device = device;
        Options = options;
        MaxTokens = maxTokens;
        _logger = logger;
        _debug = options.Debug && logger is not null;
        _sizes = sizes.Distinct().Order().ToArray();
        _bucketOf = BuildBuckets(_sizes, maxTokens);

        Stream = device.CreateStream();
        try
        {
            // Activations are rented from here; chunks are reserved lazily and freed with the engine.
            Pool = new DevicePool(device, initialBytes: 0, chunkBytes: 64L << 20);
            _tokenCount = Pool.Rent(sizeof(int), "token count");
        }
        catch
        {
            Pool?.Dispose();
            Stream.Dispose();
            throw;
        }
        Context = new LayerContext(device, Pool, maxTokens, _tokenCount.Ptr);
        _logger?.LogDebug("prefill engine: MaxTokens={MaxTokens}, {Options}", maxTokens, options);
    }

    public Device Device { get; }

    /// <summary>The engine's own stream: captures, replays and eager fallbacks all run on it.</summary>
    public ComputeStream Stream { get; }
    public DevicePool Pool { get; }
    public LayerContext Context { get; }
    public int MaxTokens { get; }
    public BlockWiseGraphOptions Options { get; }

    /// <summary>The sizes actually captured: Options.Sizes sorted, without duplicates.</summary>
    public IReadOnlyList<int> Sizes => _sizes;
    public IReadOnlyList<Layer> Layers => _layers.AsReadOnly();
    public bool IsCaptured => _captured;

    /// <summary>The padded size a step of <paramref name="n"/> tokens replays at, or null when n is above the largest size.</summary>
    public int? PaddedSize(int n)
    {
        CheckTokens(n);
        if (n == 0) return null;
        int b = _bucketOf[n];
        return b < 0 ? null : _sizes[b];
    }

    /// <summary>Rents a [MaxTokens, width] activation from the pool; the engine owns it and frees it on Dispose.</summary>
    public Tensor Activation(string name, DType dtype, long width)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, $"activation '{name}' width must be >= 1");
        var block = Pool.RentTensor(dtype, new long[] { MaxTokens, width }, out var tensor, name);
        _activations.Add(block);
        return tensor;
    }

    /// <summary>Bytes of the activation blocks rented through <see cref="Activation"/>.</summary>
    public long ActivationBytes => _activations.Sum(b => b.Bytes);

    /// <summary>
    /// Appends a layer (execution order). The engine owns and disposes it. Adding after Capture drops
    /// the graphs: the stack changed, so call Capture again.
    /// </summary>
    public T Add<T>(T layer) where T : Layer
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(layer);
        if (!ReferenceEquals(layer.Context, Context))
            throw new ArgumentException($"layer '{layer.Name}' was built with another context; build it with this engine's Context", nameof(layer));
        if (_slotOf.ContainsKey(layer))
            throw new ArgumentException($"layer '{layer.Name}' was already added", nameof(layer));
        if (_slots.Any(s => s.Layer.Name == layer.Name))
            throw new ArgumentException($"a layer named '{layer.Name}' was already added; names must be unique (Exclude and the listing use them)", nameof(layer));
        if (_captured)
        {
            DisposeGraphs();
            _captured = false;
            _logger?.LogWarning("layer '{Layer}' added after Capture: graphs dropped, call Capture again", layer.Name);
        }
        var slot = new Slot(layer, _slots.Count);
        slot.Static = StaticReason(layer);
        _slots.Add(slot);
        _slotOf.Add(layer, slot);
        _layers.Add(layer);
        _plan = BuildPlan(Array.Empty<Unit>());
        return layer;
    }

    // ------------------------------------------------------------------ capture

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
        Stream.BeginCapture();
        int k = unit.First;
        DeviceGraph graph;
        try
        {
            for (; k <= unit.Last; k++) _slots[k].Layer.Forward(Stream, size);
            k = -1;     // past the layers: a failure now is EndCapture's and names no single layer
            graph = Stream.EndCapture(target);
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
        for (int i = 0; i <= _slots.Count; i++)
        {
            bool capturable = i < _slots.Count && _slots[i].Static is null;
            if (capturable && start < 0) start = i;
            if (!capturable && start >= 0)
            {
                yield return (start, i - 1);
                start = -1;
            }
        }
    }

    private string UnitName(int first, int last) =>
        Options.Granularity == Granularity.Layer ? _slots[first].Layer.Name
            : first == last ? $"segment[{_slots[first].Layer.Name}]"
            : $"segment[{_slots[first].Layer.Name}..{_slots[last].Layer.Name}]";

    private FallbackReason? StaticReason(Layer layer)
    {
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

    // ------------------------------------------------------------------ replay (hot path)

    /// <summary>
    /// Runs the whole stack for <paramref name="n"/> valid tokens: writes n to the device token count
    /// once, then per layer (or segment) replays the graph of the smallest captured size >= n, or runs
    /// the layer eagerly with paddedTokens = n. The caller reads rows [0, n) of the last output.
    /// Allocation-free when Debug is off.
    /// </summary>
    public void Prefill(int n)
    {
        CheckTokens(n);
        if (n == 0) return;
        ThrowIfDisposed();
        Stream.Fill32Async(Context.TokenCount, (uint)n, 1);
        _lastWrittenN = n;
        int b = _bucketOf[n];
        if (b < 0 && Options.Enabled) _stepsAboveLargest++;
        var plan = _plan;
        for (int i = 0; i < plan.Length; i++)
        {
            var u = plan[i];
            var g = b >= 0 && u.Graphs is { } graphs ? graphs[b] : null;
            if (g is not null)
            {
                g.Launch(Stream);
                u.Replays++;
            }
            else
            {
                for (int k = u.First; k <= u.Last; k++) RunEager(_slots[k], n, b);
            }
        }
        _steps++;
        if (_debug) LogStep(n, b, plan);
    }

    /// <summary>
    /// Runs one layer for <paramref name="n"/> tokens, for loops that interleave their own eager work
    /// (attention) between layers. The token count is written only when it differs from the last value
    /// this engine wrote. In Segment granularity a layer that shares its segment's graph with other
    /// layers runs eagerly (reason SegmentMember): replaying the segment would run its neighbours too.
    /// </summary>
    public void Forward(Layer layer, int n)
    {
        ArgumentNullException.ThrowIfNull(layer);
        CheckTokens(n);
        if (n == 0) return;
        ThrowIfDisposed();
        if (!_slotOf.TryGetValue(layer, out var slot))
            throw new ArgumentException($"layer '{layer.Name}' was not added to this engine", nameof(layer));
        if (_lastWrittenN != n)
        {
            Stream.Fill32Async(Context.TokenCount, (uint)n, 1);
            _lastWrittenN = n;
        }
        int b = _bucketOf[n];
        var u = slot.Unit!;
        var g = b >= 0 && u.First == u.Last && u.Graphs is { } graphs ? graphs[b] : null;
        if (g is not null)
        {
            g.Launch(Stream);
            u.Replays++;
        }
        else
        {
            RunEager(slot, n, b);
        }
        if (_debug) LogForward(slot, n, b);
    }

    /// <summary>
    /// Writes <paramref name="n"/> to the device token count on <see cref="Stream"/>, for code that runs
    /// layers by hand (layer.Forward(engine.Stream, padded)). Use this rather than writing
    /// <see cref="LayerContext.TokenCount"/> directly: <see cref="Forward"/> skips the write when n equals
    /// the last value the engine wrote, so a write behind its back could leave a stale count.
    /// </summary>
    public void WriteTokenCount(int n)
    {
        CheckTokens(n);
        ThrowIfDisposed();
        Stream.Fill32Async(Context.TokenCount, (uint)n, 1);
        _lastWrittenN = n;
    }

    private void RunEager(Slot slot, int n, int bucket)
    {
        slot.Layer.Forward(Stream, n);
        slot.EagerRuns++;
        if (bucket < 0 && slot.Static is null) slot.EagerAboveLargest++;
    }

    private void CheckTokens(int n)
    {
        if (n < 0 || n > MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"token count n={n} must be in [0, MaxTokens={MaxTokens}]");
    }

    private static int[] BuildBuckets(int[] sizes, int maxTokens)
    {
        var table = new int[maxTokens + 1];
        int si = 0;
        for (int n = 0; n <= maxTokens; n++)
        {
            while (si < sizes.Length && sizes[si] < n) si++;
            table[n] = si < sizes.Length ? si : -1;
        }
        return table;
    }

    // ------------------------------------------------------------------ debug

    private void LogStep(int n, int b, Unit[] plan)
    {
        var sb = new StringBuilder();
        sb.Append("prefill n=").Append(n)
          .Append(!Options.Enabled ? " (graphs disabled)" : b >= 0 ? $" (padded {_sizes[b]})" : " (above the largest size)").Append(':');
        foreach (var u in plan)
        {
            bool graph = b >= 0 && u.Graphs?[b] is not null;
            for (int k = u.First; k <= u.Last; k++)
            {
                var s = _slots[k];
                sb.Append("\n  ").Append(s.Layer.Name).Append(": ");
                if (graph) sb.Append("graph@").Append(_sizes[b]).Append(u.First != u.Last ? $" in {u.Name}" : "");
                else sb.Append("eager@").Append(n).Append(" (").Append(EagerReason(s, n, b).Text).Append(')');
            }
        }
        _logger!.LogInformation("{Step}", sb.ToString());
    }

    private void LogForward(Slot s, int n, int b)
    {
        var u = s.Unit!;
        bool graph = b >= 0 && u.First == u.Last && u.Graphs?[b] is not null;
        string path = graph ? $"graph@{_sizes[b]}" : $"eager@{n} ({EagerReason(s, n, b, forward: true).Text})";
        _logger!.LogInformation("forward n={N}: {Layer}: {Path}", n, s.Layer.Name, path);
    }

    private FallbackReason EagerReason(Slot s, int n, int b, bool forward = false)
    {
        if (s.Static is { } r) return r;
        if (s.Unit?.Graphs is null) return FallbackReason.NotCaptured();
        if (b < 0) return FallbackReason.AboveLargest(n, _sizes[^1]);
        if (forward && s.Unit.First != s.Unit.Last) return FallbackReason.SegmentMember(s.Unit.Name);
        return new FallbackReason(FallbackKind.None, "graph");
    }

    // ------------------------------------------------------------------ listing

    /// <summary>The engine's state as data (see <see cref="EngineListing.ToJson"/>).</summary>
    public EngineListing Listing()
    {
        ThrowIfDisposed();
        var layers = new List<LayerListing>();
        var segments = new List<SegmentListing>();
        foreach (var u in _plan.Where(u => u.Graphs is not null && Options.Granularity == Granularity.Segment))
            segments.Add(new SegmentListing(u.Name, _slots[u.First].Layer.Name, _slots[u.Last].Layer.Name, u.Last - u.First + 1,
                _sizes, u.CaptureMs.Sum(), u.InstantiateMs.Sum(), u.Bytes.Sum(), u.Replays));

        foreach (var s in _slots)
        {
            var u = s.Unit!;
            bool graph = u.Graphs is not null;
            bool first = u.First == s.Index;
            FallbackReason? reason = graph ? null : s.Static ?? FallbackReason.NotCaptured();
            layers.Add(new LayerListing(
                s.Layer.Name,
                s.Layer.Kind.ToString(),
                s.Layer.QuantLabel,
                graph ? "graph" : "eager",
                graph ? _sizes : Array.Empty<int>(),
                reason?.Text,
                graph && first ? u.CaptureMs.Sum() : 0,
                graph && first ? u.InstantiateMs.Sum() : 0,
                graph && first ? u.Bytes.Sum() : 0,
                graph ? u.Replays : 0,
                s.EagerRuns,
                graph && Options.Granularity == Granularity.Segment ? u.Name : null,
                reason?.Kind ?? FallbackKind.None,
                s.EagerAboveLargest,
                graph && first ? u.Graphs!.Sum(g => g?.NodeCount ?? 0) : 0));
        }

        return new EngineListing(
            layers,
            segments,
            Options.Granularity.ToString(),
            Options.Enabled,
            _sizes,
            MaxTokens,
            layers.Count(l => l.Path == "graph"),
            layers.Count(l => l.Path == "eager"),
            _plan.Sum(u => u.Graphs?.Count(g => g is not null) ?? 0),
            layers.Sum(l => l.CaptureMs),
            layers.Sum(l => l.InstantiateMs),
            layers.Sum(l => l.GraphBytes),
            ActivationBytes,
            _plan.Sum(u => u.Graphs is null ? 0 : u.Replays),
            layers.Sum(l => l.EagerRuns),
            _steps,
            _stepsAboveLargest);
    }

    // ------------------------------------------------------------------ lifetime

    private void DisposeGraphs()
    {
        foreach (var u in _plan) u.DisposeGraphs();
        _plan = BuildPlan(Array.Empty<Unit>());
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Destroys every graph, then the layers, the activations, the pool and the stream.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var u in _plan) u.DisposeGraphs();
        _plan = Array.Empty<Unit>();
        for (int i = _slots.Count - 1; i >= 0; i--) _slots[i].Layer.Dispose();
        _slots.Clear();
        _slotOf.Clear();
        _layers.Clear();
        foreach (var b in _activations) b.Dispose();
        _activations.Clear();
        _tokenCount.Dispose();
        Pool.Dispose();
        Stream.Dispose();
    }

    private sealed class Slot
    {
        public Slot(Layer layer, int index)
        {
            Layer = layer;
            Index = index;
        }

        public Layer Layer { get; }
        public int Index { get; }

        /// <summary>Why the layer always runs eagerly; null while it is (or may become) captured.</summary>
        public FallbackReason? Static;
        public Unit? Unit;
        public long EagerRuns;
        public long EagerAboveLargest;
    }

    /// <summary>A layer or a segment: the graphs of every size (null for an eager unit) and their figures.</summary>
    private sealed class Unit
    {
        public Unit(string name, int first, int last, int sizes)
        {
            Name = name;
            First = first;
            Last = last;
            if (sizes > 0)
            {
                Graphs = new DeviceGraph?[sizes];
                CaptureMs = new double[sizes];
                InstantiateMs = new double[sizes];
                Bytes = new long[sizes];
            }
        }

        public string Name { get; }
        public int First { get; }
        public int Last { get; }
        public DeviceGraph?[]? Graphs { get; private set; }
        public double[] CaptureMs { get; } = Array.Empty<double>();
        public double[] InstantiateMs { get; } = Array.Empty<double>();
        public long[] Bytes { get; } = Array.Empty<long>();
        public long Replays;

        /// <summary>Drops the references without disposing (the graphs moved elsewhere).</summary>
        public void ForgetGraphs() => Graphs = null;

        public void DisposeGraphs()
        {
            if (Graphs is null) return;
            foreach (var g in Graphs) g?.Dispose();
            Graphs = null;
        }
    }
}
