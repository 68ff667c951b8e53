namespace GraphEngine.Graph;

/// <summary>What one graph covers: a single layer (FastDeploy's block-wise graphs) or a maximal run of
/// consecutive capturable layers (vLLM's and SGLang's piecewise graphs).</summary>
public enum Granularity
{
    /// <summary>One graph per layer per size (FastDeploy's block-wise graphs).</summary>
    Layer,
    /// <summary>One graph per maximal run of consecutive capturable layers per size, cut at MaxSegmentLayers; a step's
    /// first run of more than 8 layers is cut into a launch ramp of 1, 2, 4, ... layers so the GPU starts early.</summary>
    Segment,
}
