namespace GraphEngine.Kernels;

/// <summary>
/// An ordered queue of device work. Kernel families enqueue onto it; capture records everything
/// enqueued between <see cref="BeginCapture"/> and <see cref="EndCapture"/> into a replayable graph.
/// </summary>
public abstract class ComputeStream : IDisposable
{
    /// <summary>A stream on <paramref name="device"/>.</summary>
    protected ComputeStream(Device device) => Device = device;

    /// <summary>The device the stream runs on.</summary>
    public Device Device { get; }
    /// <summary>True between <see cref="BeginCapture"/> and <see cref="EndCapture"/> (or <see cref="AbortCapture"/>).</summary>
    public abstract bool IsCapturing { get; }

    /// <summary>Blocks until all work on this stream has finished. Illegal while capturing.</summary>
    public abstract void Synchronize();

    /// <summary>Starts recording. Capture is per thread (CUDA's thread-local mode), see docs/design.md.</summary>
    public abstract void BeginCapture();

    /// <summary>
    /// Ends recording and returns an instantiated graph. When <paramref name="updateTarget"/> is given the
    /// recorded work replaces that graph's in place if the topology allows, and the same object comes back.
    /// </summary>
    public abstract DeviceGraph EndCapture(DeviceGraph? updateTarget = null);

    /// <summary>Ends a capture that failed part-way and discards whatever was recorded; never throws.</summary>
    public abstract void AbortCapture();

    /// <summary>Enqueues a copy of <paramref name="bytes"/> from <paramref name="src"/> to <paramref name="dst"/>, both device memory.</summary>
    public abstract void CopyAsync(DevicePtr dst, DevicePtr src, long bytes);

    /// <summary>Fills <paramref name="count"/> 32-bit words; used for the token-count scalar and NaN poisoning.</summary>
    public abstract void Fill32Async(DevicePtr dst, uint value, long count);

    /// <summary>Fills <paramref name="count"/> 16-bit words (bf16/fp16 NaN poisoning).</summary>
    public abstract void Fill16Async(DevicePtr dst, ushort value, long count);

    /// <summary>Fills <paramref name="count"/> bytes with <paramref name="value"/>.</summary>
    public abstract void Fill8Async(DevicePtr dst, byte value, long count);

    /// <summary>Destroys the stream; work already enqueued still completes.</summary>
    public abstract void Dispose();
}
