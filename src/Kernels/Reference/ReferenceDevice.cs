using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Reference;

/// <summary>
/// The managed CPU backend: "device" memory is aligned native host memory, streams execute work in
/// order as it is enqueued, and capture records the enqueued work for replay. It is the oracle for
/// every GPU result and lets CI run every engine path without a GPU.
/// </summary>
public sealed unsafe class ReferenceDevice : Device
{
    private readonly ReferenceStream _default;
    private readonly List<WeakReference<ReferenceStream>> _streams = new();
    private readonly DeviceInfo _info;

    /// <summary>A reference device using the host's cores and memory.</summary>
    public ReferenceDevice()
    {
        _info = new DeviceInfo(BackendKind.Reference, $"{Environment.ProcessorCount} host cores", 0, 0,
            Environment.ProcessorCount, 0, 0, "managed");
        _default = new ReferenceStream(this);
        Track(_default);
    }

    /// <inheritdoc/>
    public override BackendKind Kind => BackendKind.Reference;
    /// <inheritdoc/>
    public override DeviceInfo Info => _info;
    /// <inheritdoc/>
    public override ComputeStream DefaultStream => _default;

    /// <inheritdoc/>
    public override ComputeStream CreateStream()
    {
        ThrowIfDisposed();
        var s = new ReferenceStream(this);
        Track(s);
        return s;
    }

    /// <inheritdoc/>
    public override DeviceEvent CreateEvent() => new ReferenceEvent();

    private void Track(ReferenceStream s)
    {
        lock (_streams) _streams.Add(new WeakReference<ReferenceStream>(s));
    }

    /// <inheritdoc/>
    public override bool AnyStreamCapturing
    {
        get
        {
            lock (_streams)
                foreach (var w in _streams)
                    if (w.TryGetTarget(out var s) && s.IsCapturing && s.CaptureThread == Environment.CurrentManagedThreadId)
                        return true;
            return false;
        }
    }

    /// <inheritdoc/>
    protected override DevicePtr AllocRaw(long bytes)
    {
        void* p = NativeMemory.AlignedAlloc((nuint)bytes, 256);
        if (p == null) throw new OutOfMemoryException($"reference backend could not allocate {bytes} bytes");
        return new DevicePtr((ulong)p);
    }

    /// <inheritdoc/>
    protected override void FreeRaw(DevicePtr ptr) => NativeMemory.AlignedFree((void*)ptr.Address);

    /// <inheritdoc/>
    public override void CopyToDevice(DevicePtr dst, ReadOnlySpan<byte> src)
    {
        ThrowIfCapturing("copy host to device");
        Faults?.Check(Diagnostics.FaultPoint.Upload, $"{src.Length} bytes");
        src.CopyTo(new Span<byte>((void*)dst.Address, src.Length));
    }

    /// <inheritdoc/>
    public override void CopyToHost(Span<byte> dst, DevicePtr src)
    {
        ThrowIfCapturing("copy device to host");
        new ReadOnlySpan<byte>((void*)src.Address, dst.Length).CopyTo(dst);
    }

    /// <inheritdoc/>
    public override void Synchronize() => ThrowIfCapturing("synchronize the device");

    /// <inheritdoc/>
    protected override void DisposeCore() { }
}
