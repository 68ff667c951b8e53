namespace GraphEngine.Kernels;

/// <summary>A contiguous range of device memory that can be viewed as tensors.</summary>
public abstract class DeviceMemory(Device device, DevicePtr ptr, long bytes, string tag) : IDisposable
{
    public Device Device { get; } = device;
    public DevicePtr Ptr { get; } = ptr;
    public long Bytes { get; } = bytes;
    public string Tag { get; } = tag;
    public bool IsDisposed { get; private set; }

    /// <summary>True when this memory can no longer be used: disposed itself, or its pool or device was.</summary>
    public virtual bool IsReleased => IsDisposed || Device.IsDisposed;

    /// <summary>Views the start of this memory as a tensor; the shape must fit.</summary>
    public Tensor AsTensor(DType dtype, params long[] shape)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var t = new Tensor(this, Ptr, dtype, shape);
        if (t.ByteCount > Bytes)
            throw new ArgumentException(
                $"tensor {dtype}[{string.Join(",", shape)}] needs {t.ByteCount} bytes but '{Tag}' holds {Bytes}", nameof(shape));
        return t;
    }

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Free();
        GC.SuppressFinalize(this);
    }

    protected abstract void Free();
}

/// <summary>An owning device allocation, released exactly once.</summary>
public sealed class DeviceBuffer : DeviceMemory
{
    internal DeviceBuffer(Device device, DevicePtr ptr, long bytes, string tag) : base(device, ptr, bytes, tag) { }
    protected override void Free() => Device.Release(this);
}
