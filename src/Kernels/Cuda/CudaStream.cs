using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// A created, non-blocking CUstream. <see cref="Handle"/> is what cuLaunchKernel and cuBLASLt take.
/// Capture is thread-local (docs/design.md): only an unsafe call from the capturing thread breaks it.
/// </summary>
public sealed unsafe class CudaStream : ComputeStream
{
    private readonly CudaDevice _device;
    private readonly StreamHandle _handle;
    private volatile bool _capturing;
    private bool _disposed;

    internal CudaStream(CudaDevice device) : base(device)
    {
        _device = device;
        device.EnsureCurrent();
        IntPtr s;
        CudaException.ThrowIfFailed(CuDriver.cuStreamCreate(&s, CuDriver.CU_STREAM_NON_BLOCKING));
        _handle = new StreamHandle(s, device.ContextHandle);
        device.TrackStream(this);
    }

    public IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _handle.Value;
        }
    }

    public override bool IsCapturing => _capturing;

    internal bool IsDisposed => _disposed;

    /// <summary>Managed id of the thread that began the capture; -1 when not capturing.</summary>
    internal int CaptureThread { get; private set; } = -1;

    private IntPtr Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _device.EnsureCurrent();
        return _handle.Value;
    }

    public override void Synchronize()
    {
        // Checked before calling CUDA: synchronizing a capturing stream would invalidate the capture.
        if (_capturing) throw new StreamCaptureException($"cannot synchronize a stream of {_device.Info.Name} while it is capturing a graph");
        CudaException.ThrowIfFailed(CuDriver.cuStreamSynchronize(Enter()));
    }

    public override void BeginCapture()
    {
        if (_capturing) throw new StreamCaptureException("stream is already capturing");
        _device.PrepareCapture(this);
        lock (_device.CaptureGate)
        {
            CudaException.ThrowIfFailed(CuDriver.cuStreamBeginCapture(Enter(), CuDriver.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
            CaptureThread = Environment.CurrentManagedThreadId;
            _capturing = true;
        }
    }

    /// <summary>What the driver says about this stream's capture (active, invalidated, none).</summary>
    public int DriverCaptureStatus()
    {
        int status;
        CudaException.ThrowIfFailed(CuDriver.cuStreamIsCapturing(Enter(), &status));
        return status;
    }

    public override DeviceGraph EndCapture(DeviceGraph? updateTarget = null)
    {
        if (!_capturing) throw new StreamCaptureException("EndCapture called on a stream that is not capturing");
        if (updateTarget is not null and not CudaGraph)
        {
            AbortCapture();
            throw new ArgumentException($"update target is a {updateTarget.GetType().Name}, not a CUDA graph", nameof(updateTarget));
        }
        IntPtr graph = IntPtr.Zero;
        int st = CuDriver.cuStreamEndCapture(Enter(), &graph);
        _capturing = false;
        CaptureThread = -1;
        if (st != 0)
        {
            if (graph != IntPtr.Zero) CuDriver.cuGraphDestroy(graph);
            throw new StreamCaptureException(
                $"capture failed: cuStreamEndCapture returned {CudaException.DescribeName(st)} ({st}): {CudaException.DescribeText(st)}");
        }
        var handle = new GraphHandle(graph, _device.ContextHandle);
        if (updateTarget is CudaGraph target)
        {
            target.Update(handle);
            return target;
        }
        return new CudaGraph(_device, handle);
    }

    public override void AbortCapture()
    {
        if (!_capturing || _disposed) return;
        try
        {
            _device.EnsureCurrent();
            IntPtr graph = IntPtr.Zero;
            // An invalidated capture ends with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED; that is the expected outcome here.
            CuDriver.cuStreamEndCapture(_handle.Value, &graph);
            if (graph != IntPtr.Zero) CuDriver.cuGraphDestroy(graph);
        }
        catch
        {
            // Never throws: abort runs on error paths.
        }
        finally
        {
            _capturing = false;
            CaptureThread = -1;
        }
    }

    public override void CopyAsync(DevicePtr dst, DevicePtr src, long bytes)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "copy size must be >= 0");
        if (bytes == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemcpyDtoDAsync(dst.Address, src.Address, (nuint)bytes, Enter()));
    }

    public override void Fill32Async(DevicePtr dst, uint value, long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "fill count must be >= 0");
        if (count == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemsetD32Async(dst.Address, value, (nuint)count, Enter()));
    }

    public override void Fill16Async(DevicePtr dst, ushort value, long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "fill count must be >= 0");
        if (count == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemsetD16Async(dst.Address, value, (nuint)count, Enter()));
    }

    public override void Fill8Async(DevicePtr dst, byte value, long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "fill count must be >= 0");
        if (count == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemsetD8Async(dst.Address, value, (nuint)count, Enter()));
    }

    public override void Dispose()
    {
        if (_disposed) return;
        AbortCapture();
        // Drain pending work (status ignored: Dispose never throws), then untrack while the handle is still
        // readable: the device frees this stream's cuBLASLt workspace by it, which pending kernels may use.
        _device.EnsureCurrent();
        _ = CuDriver.cuStreamSynchronize(_handle.Value);
        _device.UntrackStream(this);
        _disposed = true;
        _handle.Dispose();
    }
}

/// <summary>
/// An instantiated CUDA graph. The CUgraph is kept for <see cref="NodeCount"/> and as the source of the
/// exec; an update replaces both in this same object, so callers holding it keep a valid graph.
/// </summary>
public sealed unsafe class CudaGraph : DeviceGraph
{
    private readonly CudaDevice _device;
    private GraphHandle _graph;
    private GraphExecHandle? _exec;
    private int _nodeCount;
    private bool _disposed;

    internal CudaGraph(CudaDevice device, GraphHandle graph)
    {
        _device = device;
        _graph = graph;
        try
        {
            Instantiate();
        }
        catch
        {
            graph.Dispose();
            throw;
        }
        device.Track(CudaDevice.OwnedKind.Graph, this);
    }

    public override int NodeCount => _nodeCount;

    /// <summary>How the last <see cref="ComputeStream.EndCapture"/> into this graph was applied.</summary>
    public bool LastUpdateReinstantiated { get; private set; }

    public int UpdateCount { get; private set; }

    private void Instantiate()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        IntPtr exec;
        CudaException.ThrowIfFailed(CuDriver.cuGraphInstantiateWithFlags(&exec, _graph.Value, 0));
        _exec = new GraphExecHandle(exec, _device.ContextHandle);
        InstantiateTime = sw.Elapsed;
        _nodeCount = CountNodes(_graph.Value);
    }

    private static int CountNodes(IntPtr graph)
    {
        nuint n = 0;
        CudaException.ThrowIfFailed(CuDriver.cuGraphGetNodes(graph, null, &n));
        return (int)n;
    }

    /// <summary>Updates the exec in place from a fresh capture; re-instantiates when the driver refuses.</summary>
    internal void Update(GraphHandle fresh)
    {
        if (_disposed)
        {
            fresh.Dispose();
            throw new ObjectDisposedException(nameof(CudaGraph));
        }
        _device.EnsureCurrent();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        CuDriver.CUgraphExecUpdateResultInfo info;
        int st = CuDriver.cuGraphExecUpdate(_exec!.Value, fresh.Value, &info);
        var old = _graph;
        _graph = fresh;
        old.Dispose();
        UpdateCount++;
        if (st == 0)
        {
            LastUpdateReinstantiated = false;
            InstantiateTime = sw.Elapsed;
            _nodeCount = CountNodes(_graph.Value);
            return;
        }
        // Topology or node kinds changed (CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE): build a new exec here.
        _device.Logger?.LogDebugUpdateRefused(CudaException.DescribeName(st), info.Result);
        _exec.Dispose();
        _exec = null;
        Instantiate();
        LastUpdateReinstantiated = true;
    }

    public override void Launch(ComputeStream stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (stream is not CudaStream cs || !ReferenceEquals(cs.Device, _device))
            throw new ArgumentException($"a CUDA graph of {_device.Info.Name} cannot launch on {stream.GetType().Name} of {stream.Device.Info.Name}", nameof(stream));
        _device.EnsureCurrent();
        CudaException.ThrowIfFailed(CuDriver.cuGraphLaunch(_exec!.Value, cs.Handle));
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.Untrack(CudaDevice.OwnedKind.Graph, this);
        _exec?.Dispose();      // the exec before the graph it came from
        _graph.Dispose();
    }
}

/// <summary>A timing event.</summary>
public sealed unsafe class CudaEvent : DeviceEvent
{
    private readonly CudaDevice _device;
    private readonly EventHandle _handle;
    private bool _disposed;

    internal CudaEvent(CudaDevice device)
    {
        _device = device;
        IntPtr e;
        CudaException.ThrowIfFailed(CuDriver.cuEventCreate(&e, CuDriver.CU_EVENT_DEFAULT));
        _handle = new EventHandle(e, device.ContextHandle);
        device.Track(CudaDevice.OwnedKind.Event, this);
    }

    internal IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _handle.Value;
        }
    }

    public override void Record(ComputeStream stream)
    {
        if (stream is not CudaStream cs) throw new ArgumentException($"a CUDA event cannot record on {stream.GetType().Name}", nameof(stream));
        _device.EnsureCurrent();
        CudaException.ThrowIfFailed(CuDriver.cuEventRecord(Handle, cs.Handle));
    }

    public override void Synchronize()
    {
        _device.EnsureCurrent();
        CudaException.ThrowIfFailed(CuDriver.cuEventSynchronize(Handle));
    }

    public override float ElapsedMillisecondsSince(DeviceEvent start)
    {
        if (start is not CudaEvent s) throw new ArgumentException($"start is a {start.GetType().Name}, not a CUDA event", nameof(start));
        _device.EnsureCurrent();
        float ms;
        CudaException.ThrowIfFailed(CuDriver.cuEventElapsedTime(&ms, s.Handle, Handle));
        return ms;
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.Untrack(CudaDevice.OwnedKind.Event, this);
        _handle.Dispose();
    }
}

internal static partial class CudaLog
{
    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Debug,
        Message = "graph exec update refused ({Error}, update result {Result}); re-instantiating")]
    internal static partial void LogDebugUpdateRefused(this Microsoft.Extensions.Logging.ILogger logger, string error, int result);
}
