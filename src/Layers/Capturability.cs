namespace GraphEngine.Layers;

/// <summary>Whether a layer's forward may be captured into a graph, and if not, why.</summary>
public readonly record struct Capturability(bool CanCapture, string? Reason)
{
    /// <summary>Capturable.</summary>
    public static readonly Capturability Yes = new(true, null);
    /// <summary>Not capturable, for <paramref name="reason"/> (shown in the engine's listing).</summary>
    public static Capturability No(string reason) => new(false, reason);
}
