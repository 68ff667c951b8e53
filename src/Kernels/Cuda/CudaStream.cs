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

    // Whether BeginCapture prepared a split-K scratch that the capture's end must settle (SplitKScratch).
    private bool _scratchFromCapture;
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

    /// <summary>The CUstream; valid until the stream is disposed.</summary>
    public IntPtr Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _handle.Value;
        }
    }

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public override void Synchronize()
    {
        // Checked before calling CUDA: synchronizing a capturing stream would invalidate the capture.
        if (_capturing) throw new StreamCaptureException($"cannot synchronize a stream of {_device.Info.Name} while it is capturing a graph");
        CudaException.ThrowIfFailed(CuDriver.cuStreamSynchronize(Enter()));
    }

    /// <inheritdoc/>
    public override void BeginCapture()
    {
        if (_capturing) throw new StreamCaptureException("stream is already capturing");
        _scratchFromCapture = _device.PrepareCapture(this);
        try
        {
            lock (_device.CaptureGate)
            {
                CudaException.ThrowIfFailed(CuDriver.cuStreamBeginCapture(Enter(), CuDriver.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
                CaptureThread = Environment.CurrentManagedThreadId;
                _capturing = true;
            }
        }
        catch
        {
            SettleCaptureScratch(instantiated: false);
            throw;
        }
    }

    /// <summary>
    /// At the end of a capture (instantiated or failed): settles the split-K scratch its BeginCapture prepared, once the
    /// stream has drained (the zeroing of its tickets was enqueued before the capture). Returns the hold the graph takes
    /// on it, or null. Never throws: it runs on error paths too.
    /// </summary>
    private object? SettleCaptureScratch(bool instantiated, object? graphHold = null)
    {
        if (!_scratchFromCapture) return null;
        _scratchFromCapture = false;
        try
        {
            CuDriver.cuStreamSynchronize(Enter());
            if (instantiated) return _device.EndCaptureScratch(this, graphHold);
            _device.AbortCaptureScratch(this);
        }
        catch
        {
            // Left to the stream's disposal, which frees it too.
        }
        return null;
    }

    /// <summary>What the driver says about this stream's capture (active, invalidated, none).</summary>
    public int DriverCaptureStatus()
    {
        int status;
        CudaException.ThrowIfFailed(CuDriver.cuStreamIsCapturing(Enter(), &status));
        return status;
    }

    /// <inheritdoc/>
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
            SettleCaptureScratch(instantiated: false);
            throw new StreamCaptureException(
                $"capture failed: cuStreamEndCapture returned {CudaException.DescribeName(st)} ({st}): {CudaException.DescribeText(st)}");
        }
        var handle = new GraphHandle(graph, _device.ContextHandle);
        CudaGraph result;
        try
        {
            if (updateTarget is CudaGraph target)
            {
                target.Update(handle);
                result = target;
            }
            else result = new CudaGraph(_device, handle);
        }
        catch
        {
            SettleCaptureScratch(instantiated: false);
            throw;
        }
        // A graph whose kernels use the split-K scratch keeps it until it is disposed (an updated graph holds it once).
        if (SettleCaptureScratch(instantiated: true, result.SplitKHold) is { } hold)
            result.HoldSplitKScratch(_handle.Value, hold);
        return result;
    }

    /// <inheritdoc/>
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
            SettleCaptureScratch(instantiated: false);
        }
    }

    /// <inheritdoc/>
    public override void CopyAsync(DevicePtr dst, DevicePtr src, long bytes)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "copy size must be >= 0");
        if (bytes == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemcpyDtoDAsync(dst.Address, src.Address, (nuint)bytes, Enter()));
    }

    /// <inheritdoc/>
    public override void Fill32Async(DevicePtr dst, uint value, long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "fill count must be >= 0");
        if (count == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemsetD32Async(dst.Address, value, (nuint)count, Enter()));
    }

    /// <inheritdoc/>
    public override void Fill16Async(DevicePtr dst, ushort value, long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "fill count must be >= 0");
        if (count == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemsetD16Async(dst.Address, value, (nuint)count, Enter()));
    }

    /// <inheritdoc/>
    public override void Fill8Async(DevicePtr dst, byte value, long count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "fill count must be >= 0");
        if (count == 0) return;
        CudaException.ThrowIfFailed(CuDriver.cuMemsetD8Async(dst.Address, value, (nuint)count, Enter()));
    }

    /// <inheritdoc/>
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
