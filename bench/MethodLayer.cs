using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Bench;

/// <summary>
/// A MoE method's group GEMM alone, as a layer, so <see cref="RotatedTimer"/> can capture instances of it
/// into one graph like any other layer. The problem for a padded size comes from the suite (its device-side
/// counts or offsets are uploaded before that size is timed); the layer owns its method.
/// </summary>
internal sealed class MethodLayer : Layer
{
    private readonly IMoeMethod _method;
    private readonly Func<int, GroupGemmProblem> _problem;

    public MethodLayer(LayerContext context, string name, IMoeMethod method, Func<int, GroupGemmProblem> problem, Tensor input, Tensor output)
        : base(context, name)
    {
        _method = Own(method);
        _problem = problem;
        Input = input;
        Output = output;
    }

    public override LayerKind Kind => LayerKind.Moe;
    public override QuantMode Quant => _method.Mode;
    public override string QuantLabel => _method.Label;
    public override Tensor Input { get; }
    public override Tensor Output { get; }
    public override long WeightBytes => _method.WeightBytesPerExpert;
    public IMoeMethod Method => _method;

    public override void Forward(ComputeStream stream, int paddedTokens) => _method.Forward(stream, _problem(paddedTokens));
}
