namespace GraphEngine.Kernels;

/// <summary>A contiguous range of device memory that can be viewed as tensors.</summary>
public abstract class DeviceMemory(Device device, DevicePtr ptr, long bytes, string tag) : IDisposable
{
    /// <summary>The device the memory is on.</summary>
    public Device Device { get; } = device;
    /// <summary>Start address.</summary>
    public DevicePtr Ptr { get; } = ptr;
    /// <summary>Size in bytes.</summary>
    public long Bytes { get; } = bytes;
    /// <summary>What the memory is for, in errors and listings.</summary>
    public string Tag { get; } = tag;
    /// <summary>True after <see cref="Dispose"/>.</summary>
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

    /// <summary>Releases the memory once (to the device or the pool); tensors viewing it become unusable.</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>Gives the memory back to its owner.</summary>
    protected abstract void Free();
}

/// <summary>An owning device allocation, released exactly once.</summary>
public sealed class DeviceBuffer : DeviceMemory
{
    internal DeviceBuffer(Device device, DevicePtr ptr, long bytes, string tag) : base(device, ptr, bytes, tag) { }
    /// <inheritdoc/>
    protected override void Free() => Device.Release(this);
}
