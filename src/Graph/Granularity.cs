namespace GraphEngine.Graph;

/// <summary>What one graph covers: a single layer (FastDeploy's block-wise graphs) or a maximal run of
/// consecutive capturable layers (vLLM's and SGLang's piecewise graphs).</summary>
public enum Granularity { Layer, Segment }
