using System.Text.Json;
using System.Text.Json.Serialization;

namespace GraphEngine.Graph;

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

    /// <summary>The listing as indented camelCase JSON, enums as names.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}
