namespace GraphEngine.Graph;

/// <summary>
/// One layer in the debug listing. <see cref="Path"/> is "graph" when the layer replays graphs (alone,
/// or inside <see cref="Segment"/>), "eager" when it always runs eagerly, and then
/// <see cref="FallbackReason"/> says why. Capture figures are summed over the layer's sizes; in Segment
/// granularity they are the segment's and appear on its first layer only (the others show zero) so that
/// totals add up. <see cref="EagerRunsAboveLargest"/> counts steps whose n was above the largest size.
/// </summary>
public sealed record LayerListing(
    string Name,
    string Kind,
    string Quant,
    string Path,
    IReadOnlyList<int> CapturedSizes,
    string? FallbackReason,
    double CaptureMs,
    double InstantiateMs,
    long GraphBytes,
    long Replays,
    long EagerRuns,
    string? Segment,
    FallbackKind Fallback = FallbackKind.None,
    long EagerRunsAboveLargest = 0,
    int GraphNodes = 0);
