namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// One maximal stretch of time during which at least one record was running, with the record that started it and
/// the one that ended it (indices into <see cref="StepTimeline.Records"/>).
/// </summary>
public readonly record struct BusyInterval(ulong StartNs, ulong EndNs, int FirstIndex, int LastIndex)
{
    /// <summary>End minus start, in nanoseconds.</summary>
    public ulong LengthNs => EndNs - StartNs;
}
