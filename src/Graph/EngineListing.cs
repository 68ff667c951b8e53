using System.Text.Json;
using System.Text.Json.Serialization;

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

/// <summary>The engine's state as data: every layer, every segment, and totals.</summary>
public sealed record EngineListing(
    IReadOnlyList<LayerListing> Layers,
    IReadOnlyList<SegmentListing> Segments,
    string Granularity,
    bool Enabled,
    IReadOnlyList<int> Sizes,
    int MaxTokens,
    int GraphLayers,
    int EagerLayers,
    int Graphs,
    double CaptureMs,
    double InstantiateMs,
    long GraphBytes,
    long ActivationBytes,
    long Replays,
    long EagerRuns,
    long PrefillSteps,
    long StepsAboveLargestSize)
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

/// <summary>One captured graph: a layer (or segment) at one size.</summary>
public sealed record CaptureEntry(string Unit, int Size, double CaptureMs, double InstantiateMs, long GraphBytes, int Nodes);

/// <summary>What Capture() did: every graph made, every layer that failed, and the totals.</summary>
public sealed record CaptureReport(
    IReadOnlyList<CaptureEntry> Entries,
    IReadOnlyList<string> FailedLayers,
    int Graphs,
    double CaptureMs,
    double InstantiateMs,
    long GraphBytes,
    double ElapsedMs,
    bool FreeMemoryMeasured);

/// <summary>Progress of Capture(): graphs done of the total planned, and the one being captured now.</summary>
public readonly record struct CaptureProgress(int Done, int Total, string Unit, int Size);
