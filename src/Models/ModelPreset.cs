using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models;

/// <summary>
/// A model's prefill stack as data: a <see cref="ModelDescription"/> (the same record a checkpoint's
/// config.json parses into, so a preset and a checkpoint build through one path) plus the token counts the
/// command line runs it at. Attention itself (the softmax(QKᵀ)V kernel) is not part of any preset: the engine
/// leaves it to the caller (see samples/Embedding), so a preset's step is the decoder's projections, norms
/// and FFN/MoE only.
/// </summary>
public sealed record ModelPreset(
    string Name,
    string Description,
    ModelDescription Model,
    int MaxTokens,
    IReadOnlyList<int> DefaultTokens)
{
    /// <summary>Decoder layers.</summary>
    public int Layers => Model.Layers;
    /// <summary>Hidden size.</summary>
    public int Hidden => Model.Hidden;
    /// <summary>Query heads.</summary>
    public int Heads => Model.Heads;
    /// <summary>Key/value heads.</summary>
    public int KvHeads => Model.KvHeads;
    /// <summary>Width of one head.</summary>
    public int HeadDim => Model.HeadDim;

    /// <summary>Widest dense FFN of any layer (0 when every layer is MoE).</summary>
    public int Intermediate => Model.DecoderLayers.Where(l => !l.IsMoe).Select(l => l.DenseFfn).DefaultIfEmpty(0).Max();

    /// <summary>The routed experts of the MoE layers; null for a dense model.</summary>
    public MoeShape? Moe => Model.IsMoe && Model.Moe is { } m ? new MoeShape(m.Experts, m.TopK, m.ExpertFfn) : null;

    /// <summary>True when any decoder layer is MoE.</summary>
    public bool IsMoe => Model.IsMoe;
    /// <summary>Width of the fused qkv_proj output: (heads + 2 × kv_heads) × head_dim.</summary>
    public int QkvOut => (Heads + 2 * KvHeads) * HeadDim;
    /// <summary>Width of the attention output o_proj reads: heads × head_dim.</summary>
    public int AttentionOut => Heads * HeadDim;

    /// <summary>Bytes of the weights unquantized (bf16), all experts, routers and shared experts included.</summary>
    public long Bf16WeightBytes
    {
        get
        {
            long elements = Plan().Sum(s => s.DenseWeightElements);
            foreach (var l in Model.DecoderLayers)
                if (l.Moe is { } m)
                    elements += (long)m.Experts * (3L * Hidden * m.ExpertFfn + Hidden) + 3L * Hidden * m.SharedExpertFfn;
            return 2L * elements;
        }
    }

    /// <summary>The layers of the stack in execution order, with their shapes.</summary>
    public IReadOnlyList<LayerSpec> Plan() => LayerPlan.Build(this);

    /// <summary>A preset of <paramref name="model"/> named and described after it.</summary>
    public static ModelPreset From(ModelDescription model, int maxTokens, IReadOnlyList<int> defaultTokens, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(defaultTokens);
        if (maxTokens < 1) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, $"preset '{model.Name}': maxTokens must be >= 1");
        for (int i = 0; i < defaultTokens.Count; i++)
            if (defaultTokens[i] < 1 || defaultTokens[i] > maxTokens)
                throw new ArgumentOutOfRangeException(nameof(defaultTokens), defaultTokens[i], $"preset '{model.Name}': defaultTokens[{i}] = {defaultTokens[i]} must be in [1, maxTokens={maxTokens}]");
        return new ModelPreset(model.Name, description ?? model.ToString(), model, maxTokens, defaultTokens);
    }

    /// <summary>Name and shape on one line (under 92 characters for the presets, so it fits a 100-column log after a label).</summary>
    public override string ToString()
    {
        int dense = Model.DecoderLayers.Count(l => !l.IsMoe);
        return Model.Moe is { } m && IsMoe
            ? $"{Name}: {Layers} layers, hidden {Hidden}, qkv {QkvOut}, MoE {m.Experts}x{m.ExpertFfn} top-{m.TopK}"
              + $"{(m.SharedExperts > 0 ? $" + {m.SharedExperts} shared" : "")} ({dense} dense)"
            : $"{Name}: {Layers} layers, hidden {Hidden}, qkv {QkvOut}, FFN {Intermediate} (SwiGLU)";
    }
}
