namespace GraphEngine.Models.Checkpoints;

/// <summary>One decoder layer: a dense SwiGLU FFN of width <see cref="DenseFfn"/>, or the model's MoE block.</summary>
public sealed record LayerDescription(int Index, MoeDescription? Moe, int DenseFfn)
{
    /// <summary>True when the layer's FFN is the MoE block.</summary>
    public bool IsMoe => Moe is not null;
}
