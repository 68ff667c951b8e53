using GraphEngine.Kernels;

namespace GraphEngine.Layers;

/// <summary>
/// A layer of the prefill stack. Forward enqueues work on a stream and must be capturable when
/// <see cref="Capturability"/> says so: no allocation, synchronization or host read inside it.
/// Input and Output are fixed max-size buffers; Forward processes rows [0, paddedTokens) where
/// paddedTokens is a host-known upper bound, and kernels that can read the valid count from
/// <see cref="LayerContext.TokenCount"/> skip rows past it.
/// </summary>
public abstract class Layer : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private bool _disposed;

    /// <summary>A layer called <paramref name="name"/> built in <paramref name="context"/>.</summary>
    protected Layer(LayerContext context, string name)
    {
        Context = CheckContext(context, name);
        Name = name;
    }

    /// <summary>
    /// <paramref name="context"/> when a layer called <paramref name="name"/> can be built in it; otherwise the exception
    /// the constructor throws. For subclasses that take ownership of something before the base constructor runs
    /// (a Linear's method) and must free it when this refuses.
    /// </summary>
    protected static LayerContext CheckContext(LayerContext context, string name)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("layer name must not be empty", nameof(name));
        // `with { Pool = ... }` sets one value at a time, so only here are both known together.
        LayerContext.RequirePoolOnDevice(context.Pool, context.Device);
        // A layer built on a disposed engine's context could never run; its weights would only leak.
        if (context.Pool.IsDisposed || context.Device.IsDisposed)
            throw new ObjectDisposedException(nameof(LayerContext), $"layer '{name}': the context's {(context.Device.IsDisposed ? "device" : "engine (its pool)")} was disposed");
        return context;
    }

    /// <summary>The device, pool, MaxTokens and device token count the layer was built with.</summary>
    public LayerContext Context { get; }
    /// <summary>The context's device.</summary>
    public Device Device => Context.Device;
    /// <summary>The layer's name, unique within an engine (the listing and Exclude patterns use it).</summary>
    public string Name { get; }
    /// <summary>What kind of layer this is, for the listing.</summary>
    public abstract LayerKind Kind { get; }
    /// <summary>The quant mode of the layer's weights (<see cref="QuantMode.None"/> without weights).</summary>
    public abstract QuantMode Quant { get; }

    /// <summary>The quant mode as shown in the listing (for example "wint4/g128").</summary>
    public virtual string QuantLabel => Quant.Label();

    /// <summary>Whether <see cref="Forward"/> may be captured into a graph, and if not why.</summary>
    public virtual Capturability Capturability => Capturability.Yes;
    /// <summary>The activation the layer reads, [MaxTokens, in]; engine-owned, not the layer's.</summary>
    public abstract Tensor Input { get; }
    /// <summary>The activation the layer writes, [MaxTokens, out]; engine-owned, not the layer's.</summary>
    public abstract Tensor Output { get; }

    /// <summary>Bytes of weights (and scales) this layer reads per forward.</summary>
    public abstract long WeightBytes { get; }

    /// <summary>Enqueues the layer on <paramref name="stream"/> for rows [0, <paramref name="paddedTokens"/>); rows at or past the device token count may be skipped. Capturable when <see cref="Capturability"/> says so.</summary>
    public abstract void Forward(ComputeStream stream, int paddedTokens);

    /// <summary>Every Forward starts here: refuses a disposed layer (or one whose engine, pool or device
    /// is gone) with <see cref="ObjectDisposedException"/> before any launch, then checks the count.</summary>
    protected void ValidatePadded(int paddedTokens)
    {
        ThrowIfDisposed();
        if (paddedTokens < 1 || paddedTokens > Context.MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(paddedTokens), paddedTokens,
                $"layer '{Name}': padded token count must be in [1, {Context.MaxTokens}]");
    }

    /// <summary>True once the layer, or the engine pool or device it was built on, is disposed.</summary>
    public bool IsDisposed => _disposed || Context.Pool.IsDisposed || Context.Device.IsDisposed;

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the layer, its engine's pool or its device is disposed.</summary>
    protected void ThrowIfDisposed()
    {
        if (_disposed) throw new ObjectDisposedException(GetType().Name, $"layer '{Name}' was disposed (with its engine)");
        if (Context.Pool.IsDisposed) throw new ObjectDisposedException(GetType().Name, $"layer '{Name}': its engine was disposed");
        if (Context.Device.IsDisposed) throw new ObjectDisposedException(GetType().Name, $"layer '{Name}': its device was disposed");
    }

    /// <summary>Takes ownership: disposed with the layer, in reverse order of adoption.</summary>
    protected T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    /// <summary>Runs <see cref="Dispose(bool)"/>, then disposes what the layer owns in reverse order of adoption; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Dispose(true);
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
        GC.SuppressFinalize(this);
    }

    /// <summary>A subclass's own cleanup, run before the owned resources are disposed.</summary>
    protected virtual void Dispose(bool disposing) { }
}
