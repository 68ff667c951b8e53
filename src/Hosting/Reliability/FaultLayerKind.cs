using GraphEngine.Kernels;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;
using GraphEngine.Models;

namespace GraphEngine.Hosting.Reliability;

/// <summary>
/// A layer kind the fault matrix injects faults into: how to build one over two [MaxTokens, <see cref="FaultStack.Width"/>]
/// activations. <see cref="CompileSubject"/> names its kernels as the compile fault point sees them, per backend (CUDA
/// kernel names, the reference backend's family names); null for a kind that compiles nothing.
/// </summary>
public sealed record FaultLayerKind(string Name, Func<LayerContext, string, Tensor, Tensor, Layer> Create, (string Cuda, string Reference)? CompileSubject = null)
{
    /// <summary>The kind's compile subject on <paramref name="device"/>'s backend.</summary>
    public string? CompileSubjectOn(Device device) =>
        CompileSubject is { } s ? (device.Kind == BackendKind.Cuda ? s.Cuda : s.Reference) : null;

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Linear in every dense quant method, RMSNorm, MoE (unquantized and int4), and the application's own layer.</summary>
    public static IReadOnlyList<FaultLayerKind> All { get; } = new FaultLayerKind[]
    {
        new("linear/bf16", (c, n, i, o) => ModelFactory.RandomLinear(c, n, i, o, QuantMode.None, GroupSize.PerChannel, Seed(n))),
        new("linear/wint8", (c, n, i, o) => ModelFactory.RandomLinear(c, n, i, o, QuantMode.WInt8, GroupSize.PerChannel, Seed(n)), ("wo_", "WeightOnlyGemm")),
        new("linear/wint4", (c, n, i, o) => ModelFactory.RandomLinear(c, n, i, o, QuantMode.WInt4, GroupSize.PerChannel, Seed(n))),
        new("linear/wint4-g64", (c, n, i, o) => ModelFactory.RandomLinear(c, n, i, o, QuantMode.WInt4, GroupSize.Of(64), Seed(n))),
        new("linear/block_wise_fp8", (c, n, i, o) => ModelFactory.RandomLinear(c, n, i, o, QuantMode.BlockWiseFp8, GroupSize.PerChannel, Seed(n))),
        new("rmsnorm", (c, n, i, o) => ModelFactory.RandomNorm(c, n, i, o, residual: null, Seed(n)), ("rms_norm", "RmsNorm")),
        // Small on purpose (the reference backend runs it in CI): 6 experts, top-2, FFN 64, a shared expert.
        new("moe/bf16", (c, n, i, o) => Experts(c, n, i, o, QuantMode.None, default), ("moe_", "MoeRouting")),
        new("moe/wint4-g64", (c, n, i, o) => Experts(c, n, i, o, QuantMode.WInt4, GroupSize.Of(64))),
        new("app/row-copy", (c, n, i, o) => new AppRowCopyLayer(c, n, i, o)),
    };

    private static Moe Experts(LayerContext c, string name, Tensor i, Tensor o, QuantMode mode, GroupSize group) =>
        new(c, name, new MoeOptions(6, 2, (int)i.Dim(1), 64, SharedFfn: 64, Quant: mode, GroupSize: group, Seed: Seed(name)), i, o);

    /// <summary>Weights depend on the layer's name only, so two engines built alike hold equal weights (FNV-1a).</summary>
    public static uint Seed(string name)
    {
        uint h = 2166136261;
        foreach (char ch in name) h = (h ^ ch) * 16777619;
        return h;
    }
}
