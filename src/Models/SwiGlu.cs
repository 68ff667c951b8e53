using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Layers;

namespace GraphEngine.Models;

/// <summary>
/// The activation between a dense FFN's gate_up and down projections: out[r, :F] = silu(h[r, :F]) · h[r, F:2F].
/// It reuses the MoE family's SwiGLU kernel with dense row validity (rows below the device token count),
/// so it is capturable and skips padded rows like every other layer.
/// </summary>
public sealed class SwiGlu : Layer
{
    private readonly MoePermute _kernel;

    /// <summary>A SwiGLU from <paramref name="input"/> [MaxTokens, 2F] to <paramref name="output"/> [MaxTokens, F] of the same dtype, both on the context's device; neither is owned.</summary>
    public SwiGlu(LayerContext context, string name, Tensor input, Tensor output) : base(context, name)
    {
        input.RequireRank($"{name}.input", 2).RequireDevice($"{name}.input", context.Device);
        output.RequireRank($"{name}.output", 2).Require($"{name}.output", input.DType).RequireDevice($"{name}.output", context.Device);
        if (input.Dim(1) != 2 * output.Dim(1))
            throw new ArgumentException($"swiglu '{name}': input {input} must have twice the columns of output {output}", nameof(input));
        if (input.Rows < context.MaxTokens || output.Rows < context.MaxTokens)
            throw new ArgumentException($"swiglu '{name}': input {input} and output {output} need at least MaxTokens={context.MaxTokens} rows");
        _kernel = MoePermute.Create(context.Device);
        Input = input;
        Output = output;
    }

    /// <see cref="LayerKind.Custom"/>.
    public override LayerKind Kind => LayerKind.Custom;
    /// <summary>None: the layer has no weights.</summary>
    public override QuantMode Quant => QuantMode.None;
    /// <summary>"-": no quant mode.</summary>
    public override string QuantLabel => "-";
    /// <summary>[MaxTokens, 2F]: [gate | up].</summary>
    public override Tensor Input { get; }
    /// <summary>[MaxTokens, F]: silu(gate) · up.</summary>
    public override Tensor Output { get; }
    /// <summary>0: no weights.</summary>
    public override long WeightBytes => 0;

    /// <summary>Writes the rows below the device token count of <see cref="Output"/>; <paramref name="paddedTokens"/> is the padded size the launch covers.</summary>
    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        _kernel.SwiGlu(stream, Input, Output, paddedTokens, RowValidity.Dense, default, Context.TokenCount, 1, 1);
    }
}
