using GraphEngine.Kernels;
using GraphEngine.Layers;

namespace GraphEngine.Hosting.Reliability;

/// <summary>
/// The application's own layer in the fault matrix: a <see cref="Layer"/> written outside the engine's assemblies, as a
/// user would write one, that copies rows [0, padded) of its input to its output with one device copy.
/// </summary>
public sealed class AppRowCopyLayer : Layer
{
    /// <summary>A copy from <paramref name="input"/> to <paramref name="output"/> (equal row types), named <paramref name="name"/>.</summary>
    public AppRowCopyLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name)
    {
        if (input.DType != output.DType || input.RowBytes != output.RowBytes)
            throw new ArgumentException($"layer '{name}': a row copy needs equal row types, got {input} and {output}");
        Input = input;
        Output = output;
    }

    /// <inheritdoc/>
    public override LayerKind Kind => LayerKind.Custom;
    /// <inheritdoc/>
    public override QuantMode Quant => QuantMode.None;
    /// <inheritdoc/>
    public override Tensor Input { get; }
    /// <inheritdoc/>
    public override Tensor Output { get; }
    /// <inheritdoc/>
    public override long WeightBytes => 0;

    /// <inheritdoc/>
    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        stream.CopyAsync(Output.Ptr, Input.Ptr, paddedTokens * Input.RowBytes);
    }
}
