namespace GraphEngine.Hosting.Reliability;

/// <summary>Host memory at one moment: the managed heap after a full blocking collection (what is retained) and the process's resident set.</summary>
public readonly record struct HostMemoryLevel(long GcHeapBytes, long RssBytes)
{
    /// <summary>Collects fully (twice, so finalizers' garbage goes too), then reads the heap and the resident set.</summary>
    public static HostMemoryLevel Now()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        return new HostMemoryLevel(heap, Environment.WorkingSet);
    }

    /// <inheritdoc/>
    public override string ToString() => $"GC heap {GcHeapBytes} bytes, RSS {RssBytes} bytes";
}
