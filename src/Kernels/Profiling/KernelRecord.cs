namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// One GPU activity from CUPTI (or built by hand for analysis): times are CUPTI nanoseconds, the same clock as
/// <see cref="CuptiTracer.Timestamp"/>. Memcpy and memset records are named "memcpy HtoD", "memset" and so on,
/// so a name classifier can tell them from kernels.
/// </summary>
public readonly record struct KernelRecord(string Name, ulong StartNs, ulong EndNs, uint StreamId,
    RecordKind Kind = RecordKind.Kernel)
{
    /// <summary>CUPTI's correlation id, linking the record to its launch call.</summary>
    public uint CorrelationId { get; init; }
    /// <summary>The device the record ran on.</summary>
    public uint DeviceId { get; init; }
    /// <summary>The CUDA context the record ran in.</summary>
    public uint ContextId { get; init; }

    /// <summary>0 when the work was not launched from a CUDA graph.</summary>
    public uint GraphId { get; init; }

    /// <summary>0 when the work was not launched from a CUDA graph.</summary>
    public ulong GraphNodeId { get; init; }

    /// <summary>Bytes copied or set; 0 for kernels.</summary>
    public ulong Bytes { get; init; }

    /// <summary>Grid size in blocks along x (kernels only).</summary>
    public int GridX { get; init; }
    /// <summary>Grid size in blocks along y (kernels only).</summary>
    public int GridY { get; init; }
    /// <summary>Grid size in blocks along z (kernels only).</summary>
    public int GridZ { get; init; }
    /// <summary>Threads per block along x (kernels only).</summary>
    public int BlockX { get; init; }
    /// <summary>Threads per block along y (kernels only).</summary>
    public int BlockY { get; init; }
    /// <summary>Threads per block along z (kernels only).</summary>
    public int BlockZ { get; init; }

    /// <summary>End minus start, in nanoseconds.</summary>
    public ulong DurationNs => EndNs - StartNs;
}
