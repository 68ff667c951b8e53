namespace GraphEngine.Kernels.Profiling;

/// <summary>What the GPU was doing during a <see cref="KernelRecord"/>.</summary>
public enum RecordKind
{
    /// <summary>A kernel execution.</summary>
    Kernel,
    /// <summary>A memory copy.</summary>
    Memcpy,
    /// <summary>A memory set.</summary>
    Memset,
}
