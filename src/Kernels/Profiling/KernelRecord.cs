namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// One GPU activity from CUPTI (or built by hand for analysis): times are CUPTI nanoseconds, the same clock as
/// <see cref="CuptiTracer.Timestamp"/>. Memcpy and memset records are named "memcpy HtoD", "memset" and so on,
/// so a name classifier can tell them from kernels.
/// </summary>
public readonly record struct KernelRecord(string Name, ulong StartNs, ulong EndNs, uint StreamId,
    RecordKind Kind = RecordKind.Kernel)
{
    public uint CorrelationId { get; init; }
    public uint DeviceId { get; init; }
    public uint ContextId { get; init; }

    /// <summary>0 when the work was not launched from a CUDA graph.</summary>
    public uint GraphId { get; init; }

    /// <summary>0 when the work was not launched from a CUDA graph.</summary>
    public ulong GraphNodeId { get; init; }

    /// <summary>Bytes copied or set; 0 for kernels.</summary>
    public ulong Bytes { get; init; }

    public int GridX { get; init; }
    public int GridY { get; init; }
    public int GridZ { get; init; }
    public int BlockX { get; init; }
    public int BlockY { get; init; }
    public int BlockZ { get; init; }

    public ulong DurationNs => EndNs - StartNs;
}
