namespace GraphEngine.Kernels.Reference;

/// <summary>
/// Executes each enqueued operation at once, in order; while capturing it records them instead, which
/// is the same contract as CUDA stream capture. Operations must read their dynamic inputs (such as the
/// device token count) when they run, not when they are enqueued, so a replay sees current values.
/// </summary>
public sealed unsafe class ReferenceStream : ComputeStream
{
    private List<Action>? _recording;
    private bool _disposed;

    internal ReferenceStream(ReferenceDevice device) : base(device) { }

    /// <inheritdoc/>
    public override bool IsCapturing => _recording is not null;
    internal int CaptureThread { get; private set; } = -1;

    /// <summary>Runs <paramref name="op"/> now, or records it while capturing.</summary>
    public void Enqueue(Action op)
    {
        ArgumentNullException.ThrowIfNull(op);
        ThrowIfDisposed();
        if (_recording is not null) _recording.Add(op);
        else op();
    }

    /// <inheritdoc/>
    public override void Synchronize()
    {
        ThrowIfDisposed();
        if (IsCapturing) throw new StreamCaptureException("cannot synchronize a stream while it is capturing a graph");
    }

    /// <inheritdoc/>
    public override void BeginCapture()
    {
        ThrowIfDisposed();
        if (IsCapturing) throw new StreamCaptureException("stream is already capturing");
        _recording = new List<Action>();
        CaptureThread = Environment.CurrentManagedThreadId;
    }

    /// <inheritdoc/>
    public override DeviceGraph EndCapture(DeviceGraph? updateTarget = null)
    {
        var ops = _recording ?? throw new StreamCaptureException("EndCapture called on a stream that is not capturing");
        _recording = null;
        CaptureThread = -1;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        if (updateTarget is ReferenceGraph g)
        {
            g.Replace(ops);
            g.InstantiateTime = sw.Elapsed;
            return g;
        }
        return new ReferenceGraph(ops.ToArray()) { InstantiateTime = sw.Elapsed };
    }

    /// <inheritdoc/>
    public override void AbortCapture()
    {
        _recording = null;
        CaptureThread = -1;
    }

    /// <inheritdoc/>
    public override void CopyAsync(DevicePtr dst, DevicePtr src, long bytes) =>
        Enqueue(() => Buffer.MemoryCopy((void*)src.Address, (void*)dst.Address, bytes, bytes));

    /// <inheritdoc/>
    public override void Fill32Async(DevicePtr dst, uint value, long count) =>
        Enqueue(() => Fill((uint*)dst.Address, value, count));

    /// <inheritdoc/>
    public override void Fill16Async(DevicePtr dst, ushort value, long count) =>
        Enqueue(() => Fill((ushort*)dst.Address, value, count));

    /// <inheritdoc/>
    public override void Fill8Async(DevicePtr dst, byte value, long count) =>
        Enqueue(() => Fill((byte*)dst.Address, value, count));

    /// <summary>Fills <paramref name="count"/> elements in spans of at most int.MaxValue: a buffer of 2 GiB or more is legal device memory.</summary>
    private static void Fill<T>(T* dst, T value, long count) where T : unmanaged
    {
        for (long done = 0; done < count;)
        {
            int n = (int)Math.Min(count - done, int.MaxValue);
            new Span<T>(dst + done, n).Fill(value);
            done += n;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Drops a capture in progress; enqueuing, synchronizing or capturing afterwards throws <see cref="ObjectDisposedException"/>, as a destroyed CUDA stream does.</summary>
    public override void Dispose()
    {
        _disposed = true;
        _recording = null;
    }
}
