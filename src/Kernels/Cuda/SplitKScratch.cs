namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// The scratch of kernels that reduce K splits across blocks (group_gemm_stream): fp32 partial sums and int32 tickets
/// that are zero between launches (the block that completes a reduction re-arms its ticket). One per stream, because
/// launches on two streams may overlap and would share tickets, as cuBLASLt's workspace is (CublasLtMatmul). Its size
/// is fixed, so one allocation serves every shape: a launcher whose split would not fit runs fewer splits or another
/// kernel. Allocated, and its tickets zeroed on that stream, on a stream's first eager use or by BeginCapture
/// (allocation is refused inside a capture).
/// <para>
/// It lives as long as something needs it: for good once an eager launch used it, else as long as a graph that was
/// captured using it. What BeginCapture made for a capture that did not use it (a stack without few-row experts on a
/// device that has a group-GEMM launcher), or for one that failed, is freed at its end, so a capture leaves memory as
/// it found it apart from what its graph holds. A graph keeps the scratch of the stream it was captured on, as it keeps
/// cuBLASLt's workspace: replay it there, or on a stream ordered with that one.
/// </para>
/// </summary>
internal sealed class SplitKScratch : IDisposable
{
    /// <summary>fp32 partial sums per stream: 4 MiB.</summary>
    public const long PartialFloats = 1L << 20;

    /// <summary>Tickets per stream (one per reduced output block).</summary>
    public const long Tickets = 1L << 14;

    private const long TicketOffset = PartialFloats * sizeof(float);

    /// <summary>One stream's buffer and who keeps it: an eager use, the graphs captured using it, the capture now running.</summary>
    private sealed class Entry(DeviceBuffer buffer)
    {
        public readonly DeviceBuffer Buffer = buffer;
        public bool Eager;
        public int Graphs;
        public bool UsedByCapture;
        public bool Unheld => !Eager && Graphs == 0;
    }

    private readonly CudaDevice _device;
    private readonly Dictionary<IntPtr, Entry> _entries = new();
    private bool _disposed;

    public SplitKScratch(CudaDevice device) => _device = device;

    /// <summary>
    /// The stream's partial sums and tickets for a launch on it; the first eager call allocates them (a capture finds
    /// what BeginCapture made). A launch inside a capture marks them as needed by the graph being captured.
    /// </summary>
    public (DevicePtr Partials, DevicePtr Tickets) For(CudaStream stream)
    {
        lock (_entries)
        {
            var e = GetOrAllocate(stream);
            if (stream.IsCapturing) e.UsedByCapture = true;
            else e.Eager = true;
            return (e.Buffer.Ptr, e.Buffer.Ptr + TicketOffset);
        }
    }

    /// <summary>Before a capture on the stream: its scratch exists (made now if not) and no launch has used it yet. Returns whether it was made now.</summary>
    public bool Prepare(CudaStream stream)
    {
        lock (_entries)
        {
            bool made = !_entries.ContainsKey(stream.Handle);
            GetOrAllocate(stream).UsedByCapture = false;
            return made;
        }
    }

    private Entry GetOrAllocate(CudaStream stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_entries.TryGetValue(stream.Handle, out var e)) return e;
        var b = _device.Allocate(TicketOffset + Tickets * sizeof(int), "split-K scratch");
        // Ordered before every later launch on this stream, the only one that uses these tickets.
        stream.Fill32Async(b.Ptr + TicketOffset, 0, Tickets);
        e = new Entry(b);
        _entries[stream.Handle] = e;
        return e;
    }

    /// <summary>
    /// After a capture on the stream that instantiated: the hold its graph takes on the scratch when it uses it (given
    /// back by <see cref="ReleaseGraph"/>), else null. Scratch that nothing holds is freed; the caller has drained the stream.
    /// </summary>
    public object? EndCapture(IntPtr streamHandle, object? graphHold)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(streamHandle, out var e)) return null;
            bool used = e.UsedByCapture;
            e.UsedByCapture = false;
            if (used && !ReferenceEquals(graphHold, e)) e.Graphs++;
            if (e.Unheld) Free(streamHandle, e);
            return used ? e : null;
        }
    }

    /// <summary>After a failed capture: scratch nothing holds is freed (the caller has drained the stream).</summary>
    public void AbortCapture(IntPtr streamHandle)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(streamHandle, out var e)) return;
            e.UsedByCapture = false;
            if (e.Unheld) Free(streamHandle, e);
        }
    }

    /// <summary>
    /// A graph that held the stream's scratch is gone: freed if nothing else holds it. The hold names the buffer, not the
    /// stream, so a released stream's handle reused by a new stream is never touched.
    /// </summary>
    public void ReleaseGraph(IntPtr streamHandle, object hold)
    {
        lock (_entries)
        {
            if (!_entries.TryGetValue(streamHandle, out var e) || !ReferenceEquals(e, hold)) return;
            e.Graphs = Math.Max(0, e.Graphs - 1);
            if (e.Unheld && !e.UsedByCapture) Free(streamHandle, e);
        }
    }

    /// <summary>Whether the stream has its scratch now.</summary>
    public bool Has(IntPtr streamHandle)
    {
        lock (_entries) return _entries.ContainsKey(streamHandle);
    }

    /// <summary>Frees a disposed stream's scratch; a no-op for streams that never had one.</summary>
    public void ReleaseStream(IntPtr streamHandle)
    {
        lock (_entries)
        {
            if (_entries.Remove(streamHandle, out var e)) e.Buffer.Dispose();
        }
    }

    private void Free(IntPtr streamHandle, Entry e)
    {
        _entries.Remove(streamHandle);
        e.Buffer.Dispose();
    }

    public void Dispose()
    {
        lock (_entries)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var e in _entries.Values) e.Buffer.Dispose();
            _entries.Clear();
        }
    }
}
