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

    /// <summary>A linear layer from <paramref name="input"/> [MaxTokens, in] to <paramref name="output"/> [MaxTokens, out] through <paramref name="method"/>, which it owns from here on (disposed even when this constructor throws); <paramref name="bias"/> [out] stays the caller's.</summary>
    public Linear(LayerContext ctx, string name, Tensor input, Tensor output, ILinearMethod method, Tensor? bias = null)
        : base(ContextOrDispose(ctx, name, method), name)
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

    private static LayerContext ContextOrDispose(LayerContext ctx, string name, ILinearMethod method)
    {
        try
        {
            return CheckContext(ctx, name);
        }
        catch
        {
            method?.Dispose();
            throw;
        }
    }

    /// <summary>Builds the method for (mode, group size, weights) and the layer around it.</summary>
    public static Linear Create(LayerContext ctx, string name, Tensor input, Tensor output, QuantMode mode, GroupSize groupSize,
        LinearWeights weights, Tensor? bias = null)
    {
        CheckContext(ctx, name);      // before the method allocates weights the layer could not take
        var method = LinearMethods.Create(ctx, input.DType, mode, groupSize, weights, name);
        return new Linear(ctx, name, input, output, method, bias);
    }

    /// <see cref="LayerKind.Linear"/>.
    public override LayerKind Kind => LayerKind.Linear;
    /// <summary>The method's mode.</summary>
    public override QuantMode Quant => _method.Mode;
    /// <summary>The method's label.</summary>
    public override string QuantLabel => _method.Label;
    /// <summary>[MaxTokens, in].</summary>
    public override Tensor Input { get; }
    /// <summary>[MaxTokens, out].</summary>
    public override Tensor Output { get; }
    /// <summary>The method's weight bytes plus the bias.</summary>
    public override long WeightBytes => _method.WeightBytes + (_bias?.ByteCount ?? 0);
    /// <summary>The quant-mode method that holds the weights and runs the product.</summary>
    public ILinearMethod Method => _method;
    /// <summary>K: columns of the input.</summary>
    public int InFeatures => _method.InFeatures;
    /// <summary>N: columns of the output.</summary>
    public int OutFeatures => _method.OutFeatures;

    /// <summary>output[rows, N] = input[rows, K] · Wᵀ (+ bias) for rows [0, <paramref name="paddedTokens"/>).</summary>
    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        if (_bias is { } b) ((ILinearBiasMethod)_method).Forward(stream, Input, Output, paddedTokens, Context.TokenCount, b);
        else _method.Forward(stream, Input, Output, paddedTokens, Context.TokenCount);
    }
}
