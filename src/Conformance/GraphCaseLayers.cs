using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Models;

namespace GraphEngine.Conformance;

/// <summary>
/// One layer kind the graph cases run over: how to build an instance that reads <c>input</c> and writes
/// <c>output</c> (both [MaxTokens, width] engine activations). Adding a layer kind to every graph case
/// and test is one line in <see cref="GraphLayerKinds.All"/>. <see cref="SameWidth"/> says the kind needs
/// input and output of equal width (RMSNorm, MoE). <see cref="Widths"/> are the widths of the four
/// activations of a three-layer test stack; by default odd ones (not multiples of any tile or vector
/// width), which a kind with alignment rules (a kernel that needs hidden % 8 == 0) overrides.
/// </summary>
internal sealed record GraphLayerFactory(string Kind, DType DType, bool SameWidth, Func<LayerContext, string, Tensor, Tensor, Layer> Create,
    IReadOnlyList<long>? Widths = null)
{
    public IReadOnlyList<long> StackWidths => Widths ?? (SameWidth ? new long[] { 19, 19, 19, 19 } : new long[] { 19, 40, 33, 24 });
    public override string ToString() => Kind;
}

/// <summary>The layer kinds every graph case and test runs over.</summary>
internal static class GraphLayerKinds
{
    public static IReadOnlyList<GraphLayerFactory> All { get; } = new GraphLayerFactory[]
    {
        new("gemm/bf16", DType.BF16, false, (ctx, name, i, o) => new GemmCaseLayer(ctx, name, i, o, Seed(name))),
        new("gemm/fp16", DType.F16, false, (ctx, name, i, o) => new GemmCaseLayer(ctx, name, i, o, Seed(name))),
        new("copy/bf16", DType.BF16, true, (ctx, name, i, o) => new CopyCaseLayer(ctx, name, i, o)),
        new("rmsnorm/bf16", DType.BF16, true, (ctx, name, i, o) => Norm(ctx, name, i, o)),
        new("rmsnorm/fp16", DType.F16, true, (ctx, name, i, o) => Norm(ctx, name, i, o)),
        new("linear/bf16", DType.BF16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.None, GroupSize.PerChannel)),
        new("linear/fp16", DType.F16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.None, GroupSize.PerChannel)),
        new("linear/wint8", DType.BF16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.WInt8, GroupSize.PerChannel)),
        // Group-wise int4 needs K % group == 0; 64-wide activations keep the reference backend fast in CI.
        new("linear/wint4/g64", DType.BF16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.WInt4, GroupSize.Of(64)), new long[] { 64, 64, 64, 24 }),
        new("moe/bf16", DType.BF16, true, (ctx, name, i, o) => Experts(ctx, name, i, o, QuantMode.None), new long[] { 64, 64, 64, 64 }),
        new("moe/wint4-g64", DType.BF16, true, (ctx, name, i, o) => Experts(ctx, name, i, o, QuantMode.WInt4, GroupSize.Of(64)), new long[] { 64, 64, 64, 64 }),
        new("moe/nvfp4", DType.BF16, true, (ctx, name, i, o) => Experts(ctx, name, i, o, QuantMode.Nvfp4), new long[] { 64, 64, 64, 64 }),
        new("linear/w8a8", DType.BF16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.W8A8, GroupSize.PerChannel), new long[] { 64, 64, 64, 24 }),
        new("linear/w4a8", DType.BF16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.W4A8, GroupSize.PerChannel), new long[] { 64, 64, 64, 24 }),
        new("linear/block_wise_fp8", DType.BF16, false, (ctx, name, i, o) => Dense(ctx, name, i, o, QuantMode.BlockWiseFp8, GroupSize.PerChannel), new long[] { 64, 64, 64, 24 }),
    };

    private static Layer Norm(LayerContext ctx, string name, Tensor i, Tensor o)
    {
        var l = new RmsNorm(ctx, name, (int)i.Dim(1), i.DType, 1e-6f, i, o);
        l.RandomizeWeight(Seed(name));
        return l;
    }

    private static Layer Dense(LayerContext ctx, string name, Tensor i, Tensor o, QuantMode mode, GroupSize group) =>
        ModelFactory.RandomLinear(ctx, name, i, o, mode, group, Seed(name));

    // Small on purpose (the reference backend runs every captured size in CI): 6 experts, top-2, FFN 64,
    // shared experts on, so routing, both group GEMMs, SwiGLU, combine and the shared path are all captured.
    private static Layer Experts(LayerContext ctx, string name, Tensor i, Tensor o, QuantMode mode, GroupSize group = default) =>
        new Moe(ctx, name, new MoeOptions(6, 2, (int)i.Dim(1), 64, SharedFfn: 64, Quant: mode, GroupSize: group, Seed: Seed(name)), i, o);

    /// <summary>Weights depend on the layer's name only, so two engines built alike hold equal weights.</summary>
    public static uint Seed(string name)
    {
        uint h = 2166136261;
        foreach (char c in name) h = (h ^ c) * 16777619;
        return h;
    }
}

/// <summary>
/// A test layer over given activations with no weights of its own (Custom, unquantized): what the
/// case layers here and the engine tests' layers share, so each says only what its Forward does.
/// </summary>
internal abstract class CaseLayer : Layer
{
    protected CaseLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name)
    {
        Input = input;
        Output = output;
    }

    public override LayerKind Kind => LayerKind.Custom;
    public override QuantMode Quant => QuantMode.None;
    public override Tensor Input { get; }
    public override Tensor Output { get; }
    public override long WeightBytes => 0;
}

/// <summary>
/// A Linear-like layer over the Gemm family: output = input · Wᵀ with W [out, in] drawn by RandomFill
/// with scale 1/sqrt(in) so chained layers keep unit-scale activations. Capturable (cuBLASLt with a
/// preallocated workspace on CUDA).
/// </summary>
internal sealed class GemmCaseLayer : CaseLayer
{
    private readonly Gemm _gemm;
    private readonly Tensor _weight;

    public GemmCaseLayer(LayerContext context, string name, Tensor input, Tensor output, uint seed) : base(context, name, input, output)
    {
        input.RequireRank(nameof(input), 2).RequireDevice(nameof(input), context.Device);
        output.RequireRank(nameof(output), 2).Require(nameof(output), input.DType).RequireDevice(nameof(output), context.Device);
        if (input.Rows < context.MaxTokens || output.Rows < context.MaxTokens)
            throw new ArgumentException($"layer '{name}': activations need {context.MaxTokens} rows, got {input} and {output}");
        _gemm = Own(Gemm.Create(context.Device));
        Own(context.Device.AllocateTensor(input.DType, new[] { output.Dim(1), input.Dim(1) }, out _weight, $"{name}.weight"));
        RandomFill.Create(context.Device).Uniform(context.LoadStream, _weight, seed, 1f / MathF.Sqrt(input.Dim(1)));
        context.LoadStream.Synchronize();
    }

    public override string QuantLabel => Input.DType == DType.BF16 ? "bf16" : "fp16";
    public override long WeightBytes => _weight.ByteCount;

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        _gemm.MatMul(stream, Input, _weight, Output, paddedTokens);
    }
}

/// <summary>
/// Copies rows [0, padded) of input to output with one device copy (a memcpy node in a graph). Not
/// sealed: the engine tests' recording layer is this copy plus a log of its calls.
/// </summary>
internal class CopyCaseLayer : CaseLayer
{
    public CopyCaseLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name, input, output)
    {
        RequireEqualRows(name, input, output);
    }

    internal static void RequireEqualRows(string name, Tensor input, Tensor output)
    {
        if (input.DType != output.DType || input.RowBytes != output.RowBytes)
            throw new ArgumentException($"layer '{name}': copy needs equal row types, got {input} and {output}");
    }

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        stream.CopyAsync(Output.Ptr, Input.Ptr, paddedTokens * Input.RowBytes);
    }
}

/// <summary>
/// Declares itself not capturable, as wi4a16 does, and for the same reason: it reads the device token
/// count back to the host inside its forward and copies exactly that many rows.
/// </summary>
internal sealed class HostPlannedCopyLayer : CaseLayer
{
    public const string Reason = "plans its copy on the host from the device token count (like wi4a16)";

    public HostPlannedCopyLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name, input, output)
    {
        CopyCaseLayer.RequireEqualRows(name, input, output);
    }

    public override QuantMode Quant => QuantMode.Wi4A16;
    public override Capturability Capturability => Capturability.No(Reason);

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        stream.Synchronize();                       // the count was written on this stream
        Span<int> count = stackalloc int[1];
        Device.CopyToHost(System.Runtime.InteropServices.MemoryMarshal.AsBytes(count), Context.TokenCount);
        int rows = Math.Min(count[0], paddedTokens);
        if (rows > 0) stream.CopyAsync(Output.Ptr, Input.Ptr, rows * Input.RowBytes);
    }
}

/// <summary>
/// Claims to be capturable but throws while its stream is capturing, after enqueueing part of its work:
/// the engine must abort the capture, keep the error and run the layer eagerly.
/// </summary>
internal sealed class FailsWhileCapturingLayer : Layer
{
    public const string Message = "test layer refuses to be captured";
    private readonly GemmCaseLayer _inner;

    public FailsWhileCapturingLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name)
    {
        _inner = Own(new GemmCaseLayer(context, name + ".inner", input, output, GraphLayerKinds.Seed(name)));
    }

    public override LayerKind Kind => LayerKind.Custom;
    public override QuantMode Quant => QuantMode.None;
    public override Tensor Input => _inner.Input;
    public override Tensor Output => _inner.Output;
    public override long WeightBytes => _inner.WeightBytes;

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        _inner.Forward(stream, paddedTokens);
        if (stream.IsCapturing) throw new InvalidOperationException(Message);
    }
}
