using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

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

    /// <inheritdoc/>
    public override void Record(ComputeStream stream)
    {
        if (stream is not CudaStream cs) throw new ArgumentException($"a CUDA event cannot record on {stream.GetType().Name}", nameof(stream));
        _device.EnsureCurrent();
        CudaException.ThrowIfFailed(CuDriver.cuEventRecord(Handle, cs.Handle));
    }

    /// <inheritdoc/>
    public override void Synchronize()
    {
        _device.EnsureCurrent();
        CudaException.ThrowIfFailed(CuDriver.cuEventSynchronize(Handle));
    }

    /// <inheritdoc/>
    public override float ElapsedMillisecondsSince(DeviceEvent start)
    {
        if (start is not CudaEvent s) throw new ArgumentException($"start is a {start.GetType().Name}, not a CUDA event", nameof(start));
        _device.EnsureCurrent();
        float ms;
        CudaException.ThrowIfFailed(CuDriver.cuEventElapsedTime(&ms, s.Handle, Handle));
        return ms;
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.Untrack(CudaDevice.OwnedKind.Event, this);
        _handle.Dispose();
    }
}
