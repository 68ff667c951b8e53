using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// wi4a16 experts (seed 000): int4 group-128 symmetric weights with zeros, fp16/bf16 activations. Its group
/// GEMM plans tiles on the host from the per-expert counts, so it is not capturable and says why.
/// </summary>
public sealed class Wi4A16MoeMethod : MoeMethodBase
{
    private readonly Wi4A16GroupGemm _gemm;
    private readonly Wi4A16TilePlan _plan;

    public Wi4A16MoeMethod(Device device, ComputeStream loadStream, Tensor source, TokenLayout layout, int maxRowsBound)
        : base(QuantMode.Wi4A16, device, source, ExpertWeightFormat.Int4ZeroPointGroup, GroupSize.Of(Wi4A16GroupGemm.GroupSize))
    {
        _gemm = Wi4A16GroupGemm.Create(device);
        _gemm.Quantize(loadStream, source, Weights);
        _plan = new Wi4A16TilePlan(device, Experts, layout, maxRowsBound);
    }

    public override string Label => $"wi4a16/g{Wi4A16GroupGemm.GroupSize}";

    public override Capturability Capturability => Capturability.No(Wi4A16GroupGemm.NotCapturableReason);

    public override void Forward(ComputeStream stream, GroupGemmProblem problem) => _gemm.Run(stream, problem, Weights, _plan);

    protected override void DisposeCore() => _plan?.Dispose();
}
