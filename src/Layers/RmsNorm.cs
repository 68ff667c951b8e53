using GraphEngine.Kernels;
using GraphEngine.Kernels.Norm;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Layers;

/// <summary>
/// RMSNorm over [tokens, hidden] with a weight of the activation type and fp32 accumulation. With a
/// residual buffer it is the fused variant: r = x + r is written back to the residual buffer and
/// out = norm(r) · w (FastDeploy's and vLLM's fused_add_rms_norm). The weight starts at 1 (as
/// nn.RMSNorm does) and is set with <see cref="LoadWeight"/> or <see cref="RandomizeWeight"/>.
/// Rows at or past the device token count are skipped: neither output nor residual is touched.
/// </summary>
public sealed class RmsNorm : Layer
{
    private readonly RmsNormKernel _kernel;
    private readonly Tensor _weight;
    private readonly Tensor? _residual;

    /// <summary>An RMSNorm of width <paramref name="hidden"/> in <paramref name="dtype"/> (bf16 or fp16) with epsilon <paramref name="eps"/>, from <paramref name="input"/> to <paramref name="output"/> [MaxTokens, hidden]; with <paramref name="residual"/> [MaxTokens, hidden] the fused variant. The buffers stay the caller's; the weight [hidden] is the layer's.</summary>
    public RmsNorm(LayerContext ctx, string name, int hidden, DType dtype, float eps, Tensor input, Tensor output, Tensor? residual = null)
        : base(ctx, name)
    {
        if (!dtype.IsHalfPrecisionFloat())
            throw new ArgumentException($"rmsnorm '{name}': dtype must be BF16 or F16, got {dtype}", nameof(dtype));
        if (!(eps > 0f) || !float.IsFinite(eps))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, $"rmsnorm '{name}': epsilon must be finite and > 0");
        _kernel = RmsNormKernel.Create(ctx.Device);
        _kernel.ValidateHidden(hidden);
        CheckActivation(ctx, name, "input", input, dtype, hidden);
        CheckActivation(ctx, name, "output", output, dtype, hidden);
        if (residual is { } r) CheckActivation(ctx, name, "residual", r, dtype, hidden);
        _kernel.Prepare(dtype, hidden, residual is not null);

        Own(ctx.Pool.RentTensor(dtype, new long[] { hidden }, out var w, $"{name}.weight"));
        _weight = w;
        var ones = new float[hidden];
        Array.Fill(ones, 1f);
        w.UploadFloats(ones);
        _residual = residual;
        Hidden = hidden;
        DType = dtype;
        Epsilon = eps;
        Input = input;
        Output = output;
    }

    private static void CheckActivation(LayerContext ctx, string name, string what, Tensor t, DType dtype, int hidden)
    {
        t.RequireRank($"{name}.{what}", 2).Require($"{name}.{what}", dtype).RequireDevice($"{name}.{what}", ctx.Device);
        if (t.Dim(1) != hidden) throw new ArgumentException($"rmsnorm '{name}': {what} must have hidden={hidden} columns, got {t}", what);
        if (t.Rows < ctx.MaxTokens) throw new ArgumentException($"rmsnorm '{name}': {what} {t} needs at least MaxTokens={ctx.MaxTokens} rows", what);
    }

    /// <summary>Width of a row.</summary>
    public int Hidden { get; }
    /// <summary>Activation and weight type (bf16 or fp16).</summary>
    public DType DType { get; }
    /// <summary>Epsilon added to the mean square.</summary>
    public float Epsilon { get; }
    /// <summary>True with a residual buffer: the input is first added into it.</summary>
    public bool FusedResidual => _residual is not null;
    /// <summary>The weight [hidden], owned by the layer.</summary>
    public Tensor Weight => _weight;
    /// <summary>The residual stream [MaxTokens, hidden] of the fused variant; null otherwise.</summary>
    public Tensor? Residual => _residual;
    /// <see cref="LayerKind.RmsNorm"/>.
    public override LayerKind Kind => LayerKind.RmsNorm;
    /// <summary>None: the weight stays in the activation type.</summary>
    public override QuantMode Quant => QuantMode.None;
    /// <summary>"bf16" or "fp16".</summary>
    public override string QuantLabel => DType == DType.BF16 ? "bf16" : "fp16";
    /// <summary>[MaxTokens, hidden].</summary>
    public override Tensor Input { get; }
    /// <summary>[MaxTokens, hidden].</summary>
    public override Tensor Output { get; }
    /// <summary>Bytes of the weight.</summary>
    public override long WeightBytes => _weight.ByteCount;

    /// <summary>Sets the weight from host floats (rounded to the activation type). Synchronous; not during capture.</summary>
    public void LoadWeight(ReadOnlySpan<float> weight)
    {
        if (weight.Length != Hidden) throw new ArgumentException($"rmsnorm '{Name}': {weight.Length} weights for hidden={Hidden}", nameof(weight));
        _weight.UploadFloats(weight);
    }

    /// <summary>Uniform random weight in [1 - spread, 1 + spread], generated on the device.</summary>
    public void RandomizeWeight(uint seed, float spread = 0.5f)
    {
        RandomFill.Create(Device).Uniform(Context.LoadStream, _weight, seed, spread, 1f);
        Context.LoadStream.Synchronize();
    }

    /// <summary>Normalizes rows [0, <paramref name="paddedTokens"/>) below the device token count (adding into the residual first when fused).</summary>
    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        _kernel.Run(stream, Input, _weight, Output, paddedTokens, Context.TokenCount, Epsilon, _residual);
    }
}
