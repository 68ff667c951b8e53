namespace GraphEngine.Models.Loading;

/// <summary>What an engine layer of a loaded model is, so callers need not parse layer names.</summary>
public enum LayerRole
{
    /// <summary>input_layernorm: the RMSNorm before attention (adding into the residual stream from the second layer on).</summary>
    InputNorm,
    /// <summary>self_attn q/k/v fused into one projection: [n, hidden] to [n, q | k | v].</summary>
    QkvProj,
    /// <summary>self_attn.o_proj: [n, heads × head_dim] to [n, hidden].</summary>
    OProj,
    /// <summary>post_attention_layernorm: adds the attention output into the residual stream and normalizes.</summary>
    PostAttentionNorm,
    /// <summary>A dense MLP's gate and up projections fused: [n, hidden] to [n, gate | up].</summary>
    DenseGateUp,
    /// <summary>A dense MLP's SwiGLU: [n, 2F] to [n, F].</summary>
    DenseAct,
    /// <summary>A dense MLP's down projection: [n, F] to [n, hidden].</summary>
    DenseDown,
    /// <summary>The MoE block: router, experts and combine, [n, hidden] to [n, hidden].</summary>
    Moe,
}
