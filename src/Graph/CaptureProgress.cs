namespace GraphEngine.Graph;

/// <summary>Progress of Capture(): graphs done of the total planned, and the one being captured now.</summary>
public readonly record struct CaptureProgress(int Done, int Total, string Unit, int Size);
