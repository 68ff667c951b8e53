namespace GraphEngine.Layers;

/// <summary>What a <see cref="Layer"/> is, for the engine's listing.</summary>
public enum LayerKind
{
    /// <summary>An <see cref="Layers.RmsNorm"/>.</summary>
    RmsNorm,
    /// <summary>A <see cref="Layers.Linear"/> projection.</summary>
    Linear,
    /// <summary>A <see cref="Layers.Moe"/> block.</summary>
    Moe,
    /// <summary>Any other layer (an activation, a caller's own layer).</summary>
    Custom,
}
