namespace GraphEngine.Layers;

/// <summary>The weight tensors of a <see cref="Moe"/> layer, as <see cref="IMoeWeightSource"/> is asked to fill them.</summary>
public enum MoeWeight
{
    /// <summary>Router gate [E, H]: fp32 when <see cref="MoeOptions.RouterFp32"/>, else the activation type.</summary>
    Router,

    /// <summary>Selection bias [E] fp32 (only with <see cref="MoeOptions.SelectionBias"/>).</summary>
    SelectionBias,

    /// <summary>Fused gate/up [E, 2F, H]: per expert, rows [0, F) the gate projection, rows [F, 2F) the up projection.</summary>
    GateUp,

    /// <summary>Down [E, H, F].</summary>
    Down,

    /// <summary>Shared experts' fused gate/up [2Fs, H], gate rows first.</summary>
    SharedGateUp,

    /// <summary>Shared experts' down [H, Fs].</summary>
    SharedDown,
}
