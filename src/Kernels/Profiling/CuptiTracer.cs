using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// Collects CUPTI activity records (kernels, memcpys, memsets) between <see cref="Start"/> and <see cref="Stop"/>.
/// CUPTI's activity state is process-global, so only one tracer may be running at a time. Synchronize the device
/// before <see cref="Stop"/>: work still running then has no record yet.
/// </summary>
public sealed unsafe class CuptiTracer : IDisposable
{
    /// <summary>Size of each buffer lent to CUPTI; CUPTI's own samples use 8 MiB, about 40 000 kernel records.</summary>
    public const int BufferBytes = 8 << 20;

    private const nuint BufferAlignment = 8; // ACTIVITY_RECORD_ALIGNMENT in cupti_activity.h

    private static readonly int[] s_kinds =
    [
        Interop.Cupti.CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
        Interop.Cupti.CUPTI_ACTIVITY_KIND_MEMCPY,
        Interop.Cupti.CUPTI_ACTIVITY_KIND_MEMSET,
    ];

    // The callbacks are static (UnmanagedCallersOnly) and find the running tracer here; CUPTI allows one anyway.
    private static CuptiTracer? s_running;
    private static long s_outstandingBuffers;

    private readonly object _lock = new();
    private readonly List<KernelRecord> _records = new();
    private readonly Dictionary<nint, string> _names = new();
    private readonly CuptiRecordLayout _layout;
    private Exception? _callbackFailure;
    private bool _disposed;

    private CuptiTracer(uint apiVersion, CuptiRecordLayout layout)
    {
        ApiVersion = apiVersion;
        _layout = layout;
    }

    /// <summary>CUPTI API version of the loaded libcupti (cuptiGetVersion).</summary>
    public uint ApiVersion { get; }

    /// <summary>Which record layout this tracer reads, and where its offsets come from.</summary>
    public string LayoutDescription => $"{_layout.Name}; offsets from {_layout.Source}";

    /// <summary>True between this tracer's <see cref="Start"/> and <see cref="Stop"/>.</summary>
    public bool IsRunning => ReferenceEquals(Volatile.Read(ref s_running), this);

    /// <summary>Records CUPTI reported dropped (no buffer in time) since the last Start; non-zero means a partial trace.</summary>
    public ulong DroppedRecords { get; private set; }

    /// <summary>
    /// Loads libcupti and checks its version has a known record layout; throws <see cref="ProfilerUnavailableException"/>
    /// with one line saying which of the two failed.
    /// </summary>
    public static CuptiTracer Create()
    {
        try
        {
            Interop.Libraries.Load(Interop.Libraries.Cupti);
        }
        catch (DeviceUnavailableException e)
        {
            throw new ProfilerUnavailableException($"CUPTI tracing unavailable: {e.Message}", e);
        }
        uint version;
        int status;
        try
        {
            status = Interop.Cupti.cuptiGetVersion(&version);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new ProfilerUnavailableException($"CUPTI tracing unavailable: libcupti has no cuptiGetVersion ({e.Message})", e);
        }
        if (status != Interop.Cupti.CUPTI_SUCCESS)
            throw new ProfilerUnavailableException(
                $"CUPTI tracing unavailable: cuptiGetVersion failed: {CuptiException.Describe(status)} ({status})");
        return new CuptiTracer(version, CuptiRecordLayout.For(version));
    }

    /// <summary>As <see cref="Create"/>, but says why not instead of throwing.</summary>
    public static bool TryCreate([NotNullWhen(true)] out CuptiTracer? tracer, out string why)
    {
        try
        {
            tracer = Create();
            why = "";
            return true;
        }
        catch (ProfilerUnavailableException e)
        {
            tracer = null;
            why = e.Message;
            return false;
        }
    }

    /// <summary>Now on CUPTI's clock: take one between steps to split a trace with <see cref="StepTimeline.SplitAt"/>.</summary>
    public ulong Timestamp()
    {
        ulong t;
        CuptiException.ThrowIfFailed(Interop.Cupti.cuptiGetTimestamp(&t));
        return t;
    }

    /// <summary>
    /// Registers the buffer callbacks and enables kernel, memcpy and memset records. Throws
    /// <see cref="InvalidOperationException"/> when any tracer is already running in this process, and
    /// <see cref="ProfilerUnavailableException"/> (naming the CUPTI error) when CUPTI refuses; nothing stays enabled then.
    /// </summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var other = Interlocked.CompareExchange(ref s_running, this, null);
        if (other is not null)
            throw new InvalidOperationException(ReferenceEquals(other, this)
                ? "this CUPTI tracer is already running; call Stop first"
                : "another CUPTI tracer is already running in this process (CUPTI activity tracing is process-global)");
        lock (_lock)
        {
            _records.Clear();
            _callbackFailure = null;
        }
        DroppedRecords = 0;
        var enabled = new List<int>();
        try
        {
            Check(Interop.Cupti.cuptiActivityRegisterCallbacks(&OnBufferRequested, &OnBufferCompleted));
            foreach (var kind in s_kinds)
            {
                Check(Interop.Cupti.cuptiActivityEnable(kind));
                enabled.Add(kind);
            }
        }
        catch
        {
            foreach (var kind in enabled) _ = Interop.Cupti.cuptiActivityDisable(kind);
            Volatile.Write(ref s_running, null);
            throw;
        }

        static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
        {
            if (status != Interop.Cupti.CUPTI_SUCCESS)
                throw new ProfilerUnavailableException(
                    $"CUPTI refused to start tracing: {call} failed: {CuptiException.Describe(status)} ({status})");
        }
    }

    /// <summary>
    /// Flushes every buffer (partly filled ones too), disables the record kinds and returns the records collected
    /// since <see cref="Start"/>, sorted by start time.
    /// </summary>
    public IReadOnlyList<KernelRecord> Stop()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsRunning) throw new InvalidOperationException("this CUPTI tracer is not running; call Start first");
        try
        {
            // Disabled before the flush so no new record lands in a buffer after the flush returned.
            foreach (var kind in s_kinds) CuptiException.ThrowIfFailed(Interop.Cupti.cuptiActivityDisable(kind));
            // Completed buffers come back through OnBufferCompleted, which takes _lock: do not hold it here.
            CuptiException.ThrowIfFailed(Interop.Cupti.cuptiActivityFlushAll(Interop.Cupti.CUPTI_ACTIVITY_FLAG_FLUSH_FORCED));
            nuint dropped = 0;
            if (Interop.Cupti.cuptiActivityGetNumDroppedRecords(IntPtr.Zero, 0, &dropped) == Interop.Cupti.CUPTI_SUCCESS)
                DroppedRecords = dropped;
        }
        finally
        {
            Volatile.Write(ref s_running, null);
        }
        lock (_lock)
        {
            if (_callbackFailure is { } failure)
                throw new GraphEngineException($"reading CUPTI activity records failed: {failure.Message}", failure);
            var result = _records.ToArray();
            _records.Clear();
            Array.Sort(result, static (a, b) => a.StartNs != b.StartNs ? a.StartNs.CompareTo(b.StartNs) : a.EndNs.CompareTo(b.EndNs));
            return result;
        }
    }

    /// <summary>Buffers handed to CUPTI and not yet returned; 0 after a Stop, or CUPTI still holds memory of ours.</summary>
    public static long OutstandingBuffers => Interlocked.Read(ref s_outstandingBuffers);

    /// <summary>Stops a running trace without throwing; its unread records are dropped.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        if (IsRunning)
        {
            // Dispose must not throw; tracing is stopped as far as CUPTI lets us and the records are dropped.
            foreach (var kind in s_kinds) _ = Interop.Cupti.cuptiActivityDisable(kind);
            _ = Interop.Cupti.cuptiActivityFlushAll(Interop.Cupti.CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
            Volatile.Write(ref s_running, null);
        }
        _disposed = true;
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnBufferRequested(byte** buffer, nuint* size, nuint* maxNumRecords)
    {
        // An exception must not cross into CUPTI; a null buffer tells CUPTI to drop records (it counts them).
        try
        {
            *buffer = (byte*)NativeMemory.AlignedAlloc(BufferBytes, BufferAlignment);
            *size = BufferBytes;
            *maxNumRecords = 0; // as many as fit
            Interlocked.Increment(ref s_outstandingBuffers);
        }
        catch (OutOfMemoryException)
        {
            *buffer = null;
            *size = 0;
            *maxNumRecords = 0;
        }
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void OnBufferCompleted(IntPtr context, uint streamId, byte* buffer, nuint size, nuint validSize)
    {
        if (buffer == null) return;
        try
        {
            // A buffer flushed after Stop (or from a tracer already gone) is freed unread.
            if (Volatile.Read(ref s_running) is { } tracer) tracer.Collect(buffer, validSize);
        }
        catch (Exception e)
        {
            if (Volatile.Read(ref s_running) is { } t)
                lock (t._lock) t._callbackFailure ??= e;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
            Interlocked.Decrement(ref s_outstandingBuffers);
        }
    }

    private void Collect(byte* buffer, nuint validSize)
    {
        lock (_lock)
        {
            byte* record = null;
            while (true)
            {
                int status = Interop.Cupti.cuptiActivityGetNextRecord(buffer, validSize, &record);
                if (status == Interop.Cupti.CUPTI_ERROR_MAX_LIMIT_REACHED) break;
                if (status != Interop.Cupti.CUPTI_SUCCESS) throw CuptiException.Create(status, "cuptiActivityGetNextRecord");
                if (CuptiRecordDecoder.TryDecode(record, _layout, _names, out var decoded)) _records.Add(decoded);
            }
        }
    }
}
