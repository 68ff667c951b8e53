namespace GraphEngine.Models;

/// <summary>The routed-expert block of a decoder layer.</summary>
public sealed record MoeShape(int Experts, int TopK, int ExpertFfn);

/// <summary>
/// A model's prefill stack as data: the shapes of one decoder layer's Linear / RMSNorm / MoE layers,
/// repeated <see cref="Layers"/> times. Attention itself (the softmax(QKᵀ)V kernel) is not part of
/// any preset: the engine leaves it to the caller (see samples/Embedding), so a preset's step is the
/// decoder's projections, norms and FFN/MoE only.
/// </summary>
public sealed record ModelPreset(
    string Name,
    string Description,
    int Layers,
    int Hidden,
    int Heads,
    int KvHeads,
    int HeadDim,
    int Intermediate,
    MoeShape? Moe,
    int MaxTokens,
    IReadOnlyList<int> DefaultTokens)
{
    public bool IsMoe => Moe is not null;
    public int QkvOut => (Heads + 2 * KvHeads) * HeadDim;
    public int AttentionOut => Heads * HeadDim;

    /// <summary>Bytes of the weights unquantized (bf16), all experts included.</summary>
    public long Bf16WeightBytes =>
        2L * (Plan().Sum(s => s.DenseWeightElements) +
              (Moe is { } m ? (long)Layers * m.Experts * (3L * Hidden * m.ExpertFfn + Hidden) : 0));

    /// <summary>The layers of the stack in execution order, with their shapes.</summary>
    public IReadOnlyList<LayerSpec> Plan() => LayerPlan.Build(this);

    public override string ToString() =>
        Moe is { } m
            ? $"{Name}: {Layers} layers, hidden {Hidden}, qkv {Hidden}->{QkvOut}, {m.Experts} experts top-{m.TopK}, expert FFN {m.ExpertFfn}"
            : $"{Name}: {Layers} layers, hidden {Hidden}, qkv {Hidden}->{QkvOut}, FFN {Intermediate} (SwiGLU)";
}

/// <summary>The presets the command line knows, by name.</summary>
public static class ModelPresets
{
    /// <summary>Seconds on the CPU reference backend: small enough for CI and a machine without a GPU.</summary>
    public static readonly ModelPreset Tiny = new(
        Name: "tiny",
        Description: "4 layers, hidden 256, 8 experts top-2 (CPU-friendly)",
        Layers: 4,
        Hidden: 256,
        Heads: 4,
        KvHeads: 2,
        HeadDim: 64,
        Intermediate: 0,
        Moe: new MoeShape(Experts: 8, TopK: 2, ExpertFfn: 256),
        MaxTokens: 256,
        DefaultTokens: new[] { 1, 7, 100, 256 });

    /// <summary>ERNIE-4.5-21B-A3B's decoder: GQA 20/4 heads of 128, 64 experts top-6, expert FFN 1536.</summary>
    public static readonly ModelPreset Ernie45_21B_A3B = new(
        Name: "ernie45-21b-a3b",
        Description: "ERNIE-4.5-21B-A3B: 28 layers, hidden 2560, 64 experts top-6, expert FFN 1536",
        Layers: 28,
        Hidden: 2560,
        Heads: 20,
        KvHeads: 4,
        HeadDim: 128,
        Intermediate: 0,
        Moe: new MoeShape(Experts: 64, TopK: 6, ExpertFfn: 1536),
        MaxTokens: 2048,
        DefaultTokens: new[] { 1, 16, 128, 512, 2048 });

    /// <summary>Llama-3-8B: dense, GQA 32/8 heads of 128, SwiGLU FFN 14336.</summary>
    public static readonly ModelPreset Llama3_8B = new(
        Name: "llama3-8b",
        Description: "Llama-3-8B: 32 layers, hidden 4096, GQA 32/8, FFN 14336 (dense)",
        Layers: 32,
        Hidden: 4096,
        Heads: 32,
        KvHeads: 8,
        HeadDim: 128,
        Intermediate: 14336,
        Moe: null,
        MaxTokens: 2048,
        DefaultTokens: new[] { 1, 16, 128, 512, 2048 });

    public static IReadOnlyList<ModelPreset> All { get; } = new[] { Tiny, Ernie45_21B_A3B, Llama3_8B };

    public static IReadOnlyList<string> Names { get; } = All.Select(p => p.Name).ToArray();

    public static bool TryGet(string? name, out ModelPreset preset)
    {
        preset = All.FirstOrDefault(p => string.Equals(p.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))!;
        return preset is not null;
    }

    /// <summary>The preset called <paramref name="name"/>; the error names the value, where it came from and the choices.</summary>
    public static ModelPreset Get(string? name, string source)
    {
        if (TryGet(name, out var p)) return p;
        throw new ArgumentException($"unknown preset '{name}' (from {source}); known: {string.Join(", ", Names)}");
    }
}
