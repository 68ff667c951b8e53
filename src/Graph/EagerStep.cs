using GraphEngine.Kernels;
using GraphEngine.Layers;

namespace GraphEngine.Graph;

/// <summary>
/// A step of the application's own, registered with <see cref="PrefillEngine.AddEager(string, Action{ComputeStream, int})"/>:
/// work the engine must never capture (attention with its own KV cache, a sampler, anything that reads host
/// state). It runs eagerly in plan order, on the engine's stream, with the step's token count; in Segment
/// granularity each run of capturable layers between two eager steps is one graph per size, the piecewise
/// design vLLM and SGLang use for prefill.
/// </summary>
public sealed class EagerStep : Layer
{
    private readonly Action<ComputeStream, int> _step;

    internal EagerStep(LayerContext context, string name, Action<ComputeStream, int> step) : base(context, name) => _step = step;

    /// <inheritdoc/>
    public override LayerKind Kind => LayerKind.Custom;
    /// <inheritdoc/>
    public override QuantMode Quant => QuantMode.None;
    /// <inheritdoc/>
    public override string QuantLabel => "-";
    /// <summary>Never capturable: the engine runs it between its graphs.</summary>
    public override Capturability Capturability => Capturability.No("the application's eager step");
    /// <summary>None: the step reads and writes whatever the application's own buffers are.</summary>
    public override Tensor Input => default;
    /// <summary>None: the step reads and writes whatever the application's own buffers are.</summary>
    public override Tensor Output => default;
    /// <summary>No weights of the engine's.</summary>
    public override long WeightBytes => 0;

    /// <summary>Runs the application's step for <paramref name="paddedTokens"/> tokens (the step's valid count when the engine calls it).</summary>
    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        // The application's code must not run against an engine (or device) that is gone.
        ValidatePadded(paddedTokens);
        _step(stream, paddedTokens);
    }
}
