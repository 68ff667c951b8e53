namespace GraphEngine.Models.Loading;

/// <summary>What an engine layer of a loaded model is, so callers need not parse layer names.</summary>
public enum LayerRole
{
    InputNorm,
    QkvProj,
    OProj,
    PostAttentionNorm,
    DenseGateUp,
    DenseAct,
    DenseDown,
    Moe,
}
