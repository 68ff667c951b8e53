namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// Idle time between consecutive busy intervals of one step. <see cref="Before"/> and <see cref="After"/> name the
/// records on either side of the largest gap (the one that ended last before it, the one that started it off);
/// both are null when there is no gap.
/// </summary>
public sealed record GapSummary(int Count, ulong TotalNs, double MedianNs, ulong LargestNs, string? Before, string? After);
