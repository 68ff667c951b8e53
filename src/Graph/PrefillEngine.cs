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
public sealed partial class PrefillEngine : IDisposable
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

    /// <summary>An empty engine on <paramref name="device"/> with [<paramref name="maxTokens"/>, width] activations, taking sizes and switches from <paramref name="options"/> and logging to <paramref name="logger"/> when given. The device must outlive the engine.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">maxTokens is outside [1, <see cref="MaxTokensLimit"/>], or a configured size is outside [1, maxTokens].</exception>
    /// <exception cref="ArgumentException">Graphs are enabled and no size is left.</exception>
    public PrefillEngine(Device device, BlockWiseGraphOptions options, int maxTokens, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        if (maxTokens < 1 || maxTokens > MaxTokensLimit)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, $"maxTokens must be in [1, {MaxTokensLimit}]");
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

    /// <summary>The largest MaxTokens an engine takes (the bucket table holds one entry per token count).</summary>
    public const int MaxTokensLimit = 1 << 20;

    /// <summary>The device the engine runs on (the caller's; not disposed with the engine).</summary>
    public Device Device { get; }

    /// <summary>The engine's own stream: captures, replays and eager fallbacks all run on it.</summary>
    public ComputeStream Stream { get; }
    /// <summary>The engine's device memory pool: activations and the token-count word are rented from it; freed with the engine.</summary>
    public DevicePool Pool { get; }
    /// <summary>What layers get when built for this engine: device, pool, MaxTokens and the device token count.</summary>
    public LayerContext Context { get; }
    /// <summary>Rows of every activation: the largest token count a step takes.</summary>
    public int MaxTokens { get; }
    /// <summary>The options the engine was built with.</summary>
    public BlockWiseGraphOptions Options { get; }

    /// <summary>The sizes actually captured: Options.Sizes sorted, without duplicates.</summary>
    public IReadOnlyList<int> Sizes => _sizes;
    /// <summary>The layers added so far, in execution order (owned by the engine).</summary>
    public IReadOnlyList<Layer> Layers => _layers.AsReadOnly();
    /// <summary>True once <see cref="Capture"/> has finished and no layer was added or rolled back since (adding one drops the graphs).</summary>
    public bool IsCaptured => _captured;

    /// <summary>The padded size a step of <paramref name="n"/> tokens replays at, or null when n is above the largest size.</summary>
    public int? PaddedSize(int n)
    {
        ThrowIfDisposed();
        CheckTokens(n);
        if (n == 0) return null;
        int b = _bucketOf[n];
        return b < 0 ? null : _sizes[b];
    }

    /// <summary>Rents a [MaxTokens, width] activation from the pool, zero-filled (the layers after a row-guarded one read
    /// its padded rows: <see cref="DevicePool.RentZeroedTensor"/>); the engine owns it and frees it on Dispose.</summary>
    public Tensor Activation(string name, DType dtype, long width)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        DTypes.RequireDefined(dtype, nameof(dtype));
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, $"activation '{name}' width must be >= 1");
        long maxWidth = long.MaxValue / Math.Max(1, dtype.BitsOf() / 8) / MaxTokens;
        if (width > maxWidth)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"activation '{name}' width must be at most {maxWidth}: [MaxTokens={MaxTokens}, width] of {dtype} must fit in a 64-bit byte count");
        using var _ = Enter(nameof(Activation));
        var block = Pool.RentZeroedTensor(dtype, new long[] { MaxTokens, width }, out var tensor, name);
        _activations.Add(block);
        return tensor;
    }

    /// <summary>Bytes of the activation blocks rented through <see cref="Activation"/>.</summary>
    public long ActivationBytes => _activations.Sum(b => b.Bytes);

    /// <summary>
    /// Appends a layer (execution order). The engine owns and disposes it; a layer refused here (disposed, of another
    /// context, added before, or named like one added before) stays the caller's. Adding after Capture drops
    /// the graphs: the stack changed, so call Capture again.
    /// </summary>
    public T Add<T>(T layer) where T : Layer => Insert(_slots.Count, layer);

    /// <summary>
    /// Registers the application's own eager step <paramref name="step"/> (stream, n), appended to the plan: a split
    /// point, never captured. <see cref="Prefill"/> runs it in order between the engine's graphs with the step's
    /// token count n; the listing shows it with reason SplitPoint. The engine owns the returned layer.
    /// </summary>
    public EagerStep AddEager(string name, Action<ComputeStream, int> step)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(step);
        return Add(new EagerStep(Context, name, step));
    }

    /// <summary>
    /// As <see cref="AddEager(string, Action{ComputeStream, int})"/>, inserted right after <paramref name="after"/>
    /// (for stacks a builder already added, such as attention after each qkv_proj of a ModelFactory model).
    /// </summary>
    public EagerStep AddEager(string name, Action<ComputeStream, int> step, Layer after)
    {
        ThrowIfDisposed();
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(after);
        if (!_slotOf.TryGetValue(after, out var anchor))
            throw new ArgumentException($"layer '{after.Name}' was not added to this engine", nameof(after));
        return Insert(anchor.Index + 1, new EagerStep(Context, name, step));
    }

    private T Insert<T>(int position, T layer) where T : Layer
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(layer);
        // Taken in, a disposed layer would fail every later step and capture.
        if (layer.IsDisposed)
            throw new ObjectDisposedException(layer.GetType().Name, $"layer '{layer.Name}' is disposed (or its pool or device is); build a new one to add");
        using var _ = Enter(nameof(Add));
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
        var slot = new Slot(layer, position);
        slot.Static = StaticReason(layer);
        _slots.Insert(position, slot);
        for (int i = position + 1; i < _slots.Count; i++) _slots[i].Index = i;
        _slotOf.Add(layer, slot);
        _layers.Insert(position, layer);
        _plan = BuildPlan(Array.Empty<Unit>());
        return layer;
    }
}
