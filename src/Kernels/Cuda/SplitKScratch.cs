namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// The scratch of kernels that reduce K splits across blocks (group_gemm_stream): fp32 partial sums and int32 tickets
/// that are zero between launches (the block that completes a reduction re-arms its ticket). One per stream, because
/// launches on two streams may overlap and would share tickets, as cuBLASLt's workspace is (CublasLtMatmul). Its size
/// is fixed, so one allocation serves every shape: a launcher whose split would not fit runs fewer splits or another
/// kernel. Allocated, and its tickets zeroed on that stream, on a stream's first eager use or by BeginCapture
/// (allocation is refused inside a capture); freed with the stream. A graph keeps the scratch of the stream it was
/// captured on, as it keeps cuBLASLt's workspace: replay it there, or on a stream ordered with that one.
/// </summary>
internal sealed class SplitKScratch : IDisposable
{
    /// <summary>fp32 partial sums per stream: 4 MiB.</summary>
    public const long PartialFloats = 1L << 20;

    /// <summary>Tickets per stream (one per reduced output block).</summary>
    public const long Tickets = 1L << 14;

    private const long TicketOffset = PartialFloats * sizeof(float);

    private readonly CudaDevice _device;
    private readonly Dictionary<IntPtr, DeviceBuffer> _buffers = new();
    private bool _disposed;

    public SplitKScratch(CudaDevice device) => _device = device;

    /// <summary>The stream's partial sums and tickets; the first call on a stream allocates them (not inside a capture).</summary>
    public (DevicePtr Partials, DevicePtr Tickets) For(CudaStream stream)
    {
        lock (_buffers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_buffers.TryGetValue(stream.Handle, out var b))
            {
                b = _device.Allocate(TicketOffset + Tickets * sizeof(int), "split-K scratch");
                // Ordered before every later launch on this stream, the only one that uses these tickets.
                stream.Fill32Async(b.Ptr + TicketOffset, 0, Tickets);
                _buffers[stream.Handle] = b;
            }
            return (b.Ptr, b.Ptr + TicketOffset);
        }
    }

    /// <summary>Whether the stream has its scratch already.</summary>
    public bool Has(IntPtr streamHandle)
    {
        lock (_buffers) return _buffers.ContainsKey(streamHandle);
    }

    /// <summary>Frees a disposed stream's scratch (or one a failed capture made); a no-op for streams that never had one.</summary>
    public void ReleaseStream(IntPtr streamHandle)
    {
        lock (_buffers)
        {
            if (_buffers.Remove(streamHandle, out var b)) b.Dispose();
        }
    }

    public void Dispose()
    {
        lock (_buffers)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var b in _buffers.Values) b.Dispose();
            _buffers.Clear();
        }
    }
}
