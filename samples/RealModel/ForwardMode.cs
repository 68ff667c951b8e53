namespace GraphEngine.Samples.RealModel;

/// <summary>How a forward runs the engine's layers; the three must give bit-identical hidden states.</summary>
public enum ForwardMode
{
    /// <summary>No graphs: every layer launched one by one at the padded size the graphs replay at, attention at n.</summary>
    Eager,
    /// <summary>One graph per layer and size (FastDeploy's block-wise graphs), attention eager between them.</summary>
    Layer,
    /// <summary>One graph per run of layers between two attention steps and size (the engine's default).</summary>
    Segment,
}
