namespace GraphEngine.Kernels.Profiling;

/// <summary>What the GPU was doing during a <see cref="KernelRecord"/>.</summary>
public enum RecordKind
{
    Kernel,
    Memcpy,
    Memset,
}
