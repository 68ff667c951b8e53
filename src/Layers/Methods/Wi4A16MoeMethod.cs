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

    /// <summary>Quantizes bf16/fp16 <paramref name="source"/> [E, N, K] on <paramref name="device"/> to int4 with zero points in groups of 128 on <paramref name="loadStream"/>, and sizes the host tile plan for <paramref name="layout"/> and problems of up to <paramref name="maxRowsBound"/> rows.</summary>
    public Wi4A16MoeMethod(Device device, ComputeStream loadStream, Tensor source, TokenLayout layout, int maxRowsBound)
        : base(QuantMode.Wi4A16, device, source, ExpertWeightFormat.Int4ZeroPointGroup, GroupSize.Of(Wi4A16GroupGemm.GroupSize))
    {
        _gemm = Wi4A16GroupGemm.Create(device);
        _gemm.Quantize(loadStream, source, Weights);
        _plan = new Wi4A16TilePlan(device, Experts, layout, maxRowsBound);
    }

    /// <inheritdoc/>
    public override string Label => $"wi4a16/g{Wi4A16GroupGemm.GroupSize}";

    /// <summary>Not capturable: the kernel plans tiles on the host from the step's counts.</summary>
    public override Capturability Capturability => Capturability.No(Wi4A16GroupGemm.NotCapturableReason);

    /// <inheritdoc/>
    public override void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ThrowIfDisposed();
        _gemm.Run(stream, problem, Weights, _plan);
    }

    /// <summary>Frees the tile plan.</summary>
    protected override void DisposeCore() => _plan?.Dispose();
}
