namespace GraphEngine.Layers;

/// <summary>Whether a layer's forward may be captured into a graph, and if not, why.</summary>
public readonly record struct Capturability(bool CanCapture, string? Reason)
{
    public static readonly Capturability Yes = new(true, null);
    public static Capturability No(string reason) => new(false, reason);
}
