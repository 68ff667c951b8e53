namespace GraphEngine.Graph;

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
