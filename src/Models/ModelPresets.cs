using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models;

/// <summary>The presets the command line knows, by name: the shipped models' published configs, and tiny.</summary>
public static class ModelPresets
{
    /// <summary>
    /// Seconds on the CPU reference backend: small enough for CI and a machine without a GPU, yet shaped like
    /// ERNIE-4.5 so every path of the real models runs: a dense first layer, MoE layers with a shared expert,
    /// the fp32 router and the selection bias.
    /// </summary>
    public static readonly ModelPreset Tiny = ModelPreset.From(TinyModel(), maxTokens: 256, new[] { 1, 7, 100, 256 },
        "4 layers, hidden 256: dense layer 0 (FFN 384), then 8 experts top-2 FFN 192 + 1 shared, ERNIE routing (CPU-friendly)");

    /// <summary>ERNIE-4.5-21B-A3B as published: layer 0 dense (FFN 12288), 27 MoE layers of 64 experts top-6 + 2 shared.</summary>
    public static readonly ModelPreset Ernie45_21B_A3B = ModelPreset.From(KnownConfigs.Ernie45_21B_A3B, 2048,
        new[] { 1, 16, 128, 512, 2048 },
        "ERNIE-4.5-21B-A3B: 28 layers, hidden 2560, layer 0 dense FFN 12288, 64 experts top-6 FFN 1536 + 2 shared");

    /// <summary>Qwen3-30B-A3B: 48 MoE layers of 128 experts top-8, FFN 768, GQA 32/4 heads of 128.</summary>
    public static readonly ModelPreset Qwen3_30B_A3B = ModelPreset.From(KnownConfigs.Qwen3_30B_A3B, 2048,
        new[] { 1, 16, 128, 512, 2048 },
        "Qwen3-30B-A3B: 48 layers, hidden 2048, 128 experts top-8 FFN 768 (renormalised)");

    /// <summary>Llama-3-8B: dense, GQA 32/8 heads of 128, SwiGLU FFN 14336.</summary>
    public static readonly ModelPreset Llama3_8B = ModelPreset.From(KnownConfigs.Llama3_8B, 2048,
        new[] { 1, 16, 128, 512, 2048 },
        "Llama-3-8B: 32 layers, hidden 4096, GQA 32/8, FFN 14336 (dense)");

    /// <summary>Every preset: tiny, then the shipped models.</summary>
    public static IReadOnlyList<ModelPreset> All { get; } = new[] { Tiny, Ernie45_21B_A3B, Qwen3_30B_A3B, Llama3_8B };

    /// <summary>The names of <see cref="All"/>, for help text.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(p => p.Name).ToArray();

    /// <summary>The preset named <paramref name="name"/> (case-insensitive, trimmed); false when none is.</summary>
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

    private static ModelDescription TinyModel()
    {
        // ERNIE's routing with a floor far below any real sum, as moe_norm_min's default.
        var moe = new MoeDescription(Experts: 8, TopK: 2, ExpertFfn: 192, SharedExperts: 1, SharedExpertFfn: 192,
            MoeRouting.ErnieBiasedSoftmax, RouterFp32: true, SelectionBias: true, NormTopKProb: true, NormMin: 1e-12);
        const int layers = 4, denseFfn = 384;
        var perLayer = Enumerable.Range(0, layers)
            .Select(i => i == 0 ? new LayerDescription(i, null, denseFfn) : new LayerDescription(i, moe, 0))
            .ToArray();
        return new ModelDescription("tiny", ModelArchitecture.Ernie45Moe, "ernie4_5_moe", Hidden: 256, Layers: layers, Heads: 4,
            KvHeads: 2, HeadDim: 64, Intermediate: denseFfn, RmsNormEps: 1e-5, Vocab: 1000, TieWordEmbeddings: true,
            QkvBias: false, OutputBias: false, MlpBias: false, LmHeadBias: false, QkNorm: false, moe, perLayer);
    }
}
