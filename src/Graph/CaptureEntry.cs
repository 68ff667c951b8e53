namespace GraphEngine.Graph;

/// <summary>One captured graph: a layer (or segment) at one size.</summary>
public sealed record CaptureEntry(string Unit, int Size, double CaptureMs, double InstantiateMs, long GraphBytes, int Nodes);
