using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Diagnostics;
using GraphEngine.Kernels.Reference;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Kernels;

/// <summary>
/// One compute device: CUDA or the managed reference. Both backends honour the same contract:
/// memory, ordered streams, stream capture into replayable graphs, and every kernel family.
/// </summary>
public abstract class Device : IDisposable
{
    private long _allocatedBytes;
    private int _liveAllocations;
    private bool _disposed;
    internal FaultPlan? FaultsField;

    /// <summary>Diagnostics only: the fault plan armed on this device (<see cref="FaultPlan.Arm"/>), null normally.</summary>
    public FaultPlan? Faults => Volatile.Read(ref FaultsField);

    /// <summary>Which backend this is.</summary>
    public abstract BackendKind Kind { get; }
    /// <summary>Name, architecture, SM count and memory of the device.</summary>
    public abstract DeviceInfo Info { get; }

    /// <summary>The stream used for load-time work (weight upload, quantization) and synchronous copies.</summary>
    public abstract ComputeStream DefaultStream { get; }

    /// <summary>A new stream on this device, owned by the caller.</summary>
    public abstract ComputeStream CreateStream();
    /// <summary>A new timing event, owned by the caller.</summary>
    public abstract DeviceEvent CreateEvent();

    /// <summary>Bytes held by live <see cref="DeviceBuffer"/>s of this device (pools included).</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);
    /// <summary>Live <see cref="DeviceBuffer"/>s of this device.</summary>
    public int LiveAllocations => Volatile.Read(ref _liveAllocations);

    /// <summary>Allocates device memory. Illegal while any stream of this device is capturing.</summary>
    public DeviceBuffer Allocate(long bytes, string tag = "")
    {
        ThrowIfDisposed();
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"allocation '{tag}' must be > 0 bytes");
        ThrowIfCapturing($"allocate {bytes} bytes for '{tag}'");
        Faults?.Check(FaultPoint.Allocate, tag);
        var ptr = AllocRaw(bytes);
        Interlocked.Add(ref _allocatedBytes, bytes);
        Interlocked.Increment(ref _liveAllocations);
        return new DeviceBuffer(this, ptr, bytes, tag);
    }

    internal void Release(DeviceBuffer buffer)
    {
        FreeRaw(buffer.Ptr);
        Interlocked.Add(ref _allocatedBytes, -buffer.Bytes);
        Interlocked.Decrement(ref _liveAllocations);
    }

    /// <summary>Allocates and wraps a tensor in one step; the caller disposes the buffer.</summary>
    public DeviceBuffer AllocateTensor(DType dtype, long[] shape, out Tensor tensor, string tag = "")
    {
        long elements = Tensor.CountElements(shape);
        var buf = Allocate(Math.Max(1, dtype.ByteCount(elements)), tag);
        tensor = buf.AsTensor(dtype, shape);
        return buf;
    }

    /// <summary>The backend's allocation of <paramref name="bytes"/>.</summary>
    protected abstract DevicePtr AllocRaw(long bytes);
    /// <summary>The backend's free of <paramref name="ptr"/>.</summary>
    protected abstract void FreeRaw(DevicePtr ptr);

    /// <summary>Synchronous host-to-device copy (completes all prior work on the default stream first).</summary>
    public abstract void CopyToDevice(DevicePtr dst, ReadOnlySpan<byte> src);

    /// <summary>Synchronous device-to-host copy (completes all prior work on the default stream first).</summary>
    public abstract void CopyToHost(Span<byte> dst, DevicePtr src);

    /// <summary>
    /// Free device memory as the driver reports it (cuMemGetInfo on CUDA), which also sees memory our
    /// allocator does not, such as what graph instantiation takes. False where the backend cannot tell
    /// (the reference backend); then only <see cref="AllocatedBytes"/> is known.
    /// </summary>
    public virtual bool TryGetFreeMemory(out long freeBytes)
    {
        freeBytes = 0;
        return false;
    }

    /// <summary>Blocks until every stream of the device is idle.</summary>
    public abstract void Synchronize();

    /// <summary>True while any stream of this device is capturing (host copies and allocation are then refused).</summary>
    public abstract bool AnyStreamCapturing { get; }

    /// <summary>Throws <see cref="StreamCaptureException"/> naming <paramref name="what"/> ("copy to the host") while any stream is capturing.</summary>
    protected void ThrowIfCapturing(string what)
    {
        if (AnyStreamCapturing)
            throw new StreamCaptureException($"cannot {what} while a stream of {Info.Name} is capturing a graph");
    }

    /// <summary>True after <see cref="Dispose"/>: memory, streams and tensors of this device are unusable.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>
    /// Opens a device. Auto picks CUDA when libcuda loads and a GPU is present, otherwise the reference
    /// backend, and logs the choice once. Cuda fails with <see cref="DeviceUnavailableException"/> when no GPU.
    /// </summary>
    public static Device Open(BackendPreference preference = BackendPreference.Auto, ILogger? logger = null, int ordinal = 0)
    {
        if (!Enum.IsDefined(preference))
            throw new ArgumentOutOfRangeException(nameof(preference), preference, $"backend preference {(int)preference} is not Auto, Cuda or Reference");
        switch (preference)
        {
            case BackendPreference.Reference:
                logger?.LogInformation("backend: CPU reference (forced by configuration)");
                return new ReferenceDevice();
            case BackendPreference.Cuda:
                return CudaDevice.Open(ordinal, logger);
            default:
                if (CudaDevice.TryOpen(ordinal, logger, out var cuda, out string reason))
                {
                    logger?.LogInformation("backend: CUDA on {Device}", cuda!.Info);
                    return cuda!;
                }
                logger?.LogInformation("backend: CPU reference ({Reason})", reason);
                return new ReferenceDevice();
        }
    }

    /// <summary>Runs <see cref="DisposeCore"/> once; the device's memory, streams and tensors are unusable afterwards.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>The backend's teardown (streams, modules, the context).</summary>
    protected abstract void DisposeCore();
}
