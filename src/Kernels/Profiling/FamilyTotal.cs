namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// Summed duration of one family's records in a step. <see cref="Share"/> is of the summed durations of all records,
/// not of busy time: overlapping records on different streams both count, so shares add up to 1.
/// </summary>
public sealed record FamilyTotal(string Family, int Count, ulong TotalNs, double Share);
