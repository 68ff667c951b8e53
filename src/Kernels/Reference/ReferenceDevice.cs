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

    public ReferenceDevice()
    {
        _info = new DeviceInfo(BackendKind.Reference, $"{Environment.ProcessorCount} host cores", 0, 0,
            Environment.ProcessorCount, 0, 0, "managed");
        _default = new ReferenceStream(this);
        Track(_default);
    }

    public override BackendKind Kind => BackendKind.Reference;
    public override DeviceInfo Info => _info;
    public override ComputeStream DefaultStream => _default;

    public override ComputeStream CreateStream()
    {
        ThrowIfDisposed();
        var s = new ReferenceStream(this);
        Track(s);
        return s;
    }

    public override DeviceEvent CreateEvent() => new ReferenceEvent();

    private void Track(ReferenceStream s)
    {
        lock (_streams) _streams.Add(new WeakReference<ReferenceStream>(s));
    }

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

    protected override DevicePtr AllocRaw(long bytes)
    {
        void* p = NativeMemory.AlignedAlloc((nuint)bytes, 256);
        if (p == null) throw new OutOfMemoryException($"reference backend could not allocate {bytes} bytes");
        return new DevicePtr((ulong)p);
    }

    protected override void FreeRaw(DevicePtr ptr) => NativeMemory.AlignedFree((void*)ptr.Address);

    public override void CopyToDevice(DevicePtr dst, ReadOnlySpan<byte> src)
    {
        ThrowIfCapturing("copy host to device");
        src.CopyTo(new Span<byte>((void*)dst.Address, src.Length));
    }

    public override void CopyToHost(Span<byte> dst, DevicePtr src)
    {
        ThrowIfCapturing("copy device to host");
        new ReadOnlySpan<byte>((void*)src.Address, dst.Length).CopyTo(dst);
    }

    public override void Synchronize() => ThrowIfCapturing("synchronize the device");

    protected override void DisposeCore() { }
}
