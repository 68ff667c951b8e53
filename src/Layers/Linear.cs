using GraphEngine.Kernels;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Layers;

/// <summary>
/// output[rows, out] = input[rows, in] · Wᵀ (+ bias), in the quant mode of its method, which it owns.
/// Input and output are engine-owned buffers of at least MaxTokens rows. The bias (optional, [out] of
/// the activation type) stays owned by the caller and is added in the method's epilogue.
/// </summary>
public sealed class Linear : Layer
{
    private readonly ILinearMethod _method;
    private readonly Tensor? _bias;

    public Linear(LayerContext ctx, string name, Tensor input, Tensor output, ILinearMethod method, Tensor? bias = null)
        : base(ctx, name)
    {
        ArgumentNullException.ThrowIfNull(method);
        try
        {
            int k = method.InFeatures, n = method.OutFeatures;
            input.RequireRank($"{name}.input", 2).RequireDevice($"{name}.input", ctx.Device);
            output.RequireRank($"{name}.output", 2).RequireDevice($"{name}.output", ctx.Device);
            if (!input.DType.IsHalfPrecisionFloat())
                throw new ArgumentException($"linear '{name}': input must be BF16 or F16, got {input}", nameof(input));
            if (input.Dim(1) != k)
                throw new ArgumentException($"linear '{name}': input must have {k} columns (in features), got {input}", nameof(input));
            if (output.DType != input.DType || output.Dim(1) != n)
                throw new ArgumentException($"linear '{name}': output must be {input.DType}[*, {n}], got {output}", nameof(output));
            if (input.Rows < ctx.MaxTokens || output.Rows < ctx.MaxTokens)
                throw new ArgumentException($"linear '{name}': input {input} and output {output} need at least MaxTokens={ctx.MaxTokens} rows");
            if (bias is { } b)
            {
                b.Require($"{name}.bias", input.DType, n).RequireDevice($"{name}.bias", ctx.Device);
                if (method is not ILinearBiasMethod)
                    throw new ArgumentException($"linear '{name}': method {method.Label} cannot add a bias", nameof(bias));
            }
        }
        catch
        {
            method.Dispose();
            throw;
        }
        _method = Own(method);
        _bias = bias;
        Input = input;
        Output = output;
    }

    /// <summary>Builds the method for (mode, group size, weights) and the layer around it.</summary>
    public static Linear Create(LayerContext ctx, string name, Tensor input, Tensor output, QuantMode mode, GroupSize groupSize,
        LinearWeights weights, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var method = LinearMethods.Create(ctx, input.DType, mode, groupSize, weights, name);
        return new Linear(ctx, name, input, output, method, bias);
    }

    public override LayerKind Kind => LayerKind.Linear;
    public override QuantMode Quant => _method.Mode;
    public override string QuantLabel => _method.Label;
    public override Tensor Input { get; }
    public override Tensor Output { get; }
    public override long WeightBytes => _method.WeightBytes + (_bias?.ByteCount ?? 0);
    public ILinearMethod Method => _method;
    public int InFeatures => _method.InFeatures;
    public int OutFeatures => _method.OutFeatures;

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        if (_bias is { } b) ((ILinearBiasMethod)_method).Forward(stream, Input, Output, paddedTokens, Context.TokenCount, b);
        else _method.Forward(stream, Input, Output, paddedTokens, Context.TokenCount);
    }
}
