namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// A decoder-only model as its config.json describes it, in the terms a loader needs: shapes, which
/// layers are MoE, how they route, and which projections carry biases. Built by
/// <see cref="HfModelConfig.Parse(string, string)"/>; <see cref="KnownConfigs"/> holds the models the engine ships presets for.
/// </summary>
public sealed record ModelDescription(
    string Name,
    ModelArchitecture Architecture,
    string ModelType,
    int Hidden,
    int Layers,
    int Heads,
    int KvHeads,
    int HeadDim,
    int Intermediate,
    double RmsNormEps,
    int Vocab,
    bool TieWordEmbeddings,
    bool QkvBias,
    bool OutputBias,
    bool MlpBias,
    bool LmHeadBias,
    bool QkNorm,
    MoeDescription? Moe,
    IReadOnlyList<LayerDescription> DecoderLayers)
{
    /// <summary>True when any decoder layer is MoE.</summary>
    public bool IsMoe => DecoderLayers.Any(l => l.IsMoe);

    /// <summary>Width of q_proj's output: heads × head_dim.</summary>
    public int QOut => Heads * HeadDim;

    /// <summary>Width of k_proj's (and v_proj's) output: kv_heads × head_dim.</summary>
    public int KvOut => KvHeads * HeadDim;

    /// <summary>Indices of the MoE decoder layers, ascending.</summary>
    public IReadOnlyList<int> MoeLayerIndices => DecoderLayers.Where(l => l.IsMoe).Select(l => l.Index).ToArray();

    /// <summary>Name, type and shape on one line.</summary>
    public override string ToString() =>
        $"{Name} ({ModelType}): {Layers} layers, hidden {Hidden}, heads {Heads}/{KvHeads} of {HeadDim}, "
        + (Moe is { } m && IsMoe
            ? $"{MoeLayerIndices.Count} MoE layers with {m.Experts} experts top-{m.TopK} FFN {m.ExpertFfn}"
            : $"dense FFN {Intermediate}");
}
