namespace GraphEngine.Graph;

/// <summary>One segment (Segment granularity): a run of consecutive captured layers sharing one graph per size.</summary>
public sealed record SegmentListing(
    string Name,
    string FirstLayer,
    string LastLayer,
    int LayerCount,
    IReadOnlyList<int> CapturedSizes,
    double CaptureMs,
    double InstantiateMs,
    long GraphBytes,
    long Replays);
