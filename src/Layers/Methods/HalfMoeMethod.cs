using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>Unquantized bf16/fp16 expert weights on the capturable group GEMM.</summary>
public sealed class HalfMoeMethod : MoeMethodBase
{
    private readonly GroupGemm _gemm;

    /// <summary>Copies bf16/fp16 <paramref name="source"/> [E, N, K] on <paramref name="device"/> into the kernel's layout on <paramref name="loadStream"/>; the source stays the caller's.</summary>
    public HalfMoeMethod(Device device, ComputeStream loadStream, Tensor source)
        : base(QuantMode.None, device, source, ExpertWeightFormat.Half, GroupSize.PerChannel)
    {
        _gemm = GroupGemm.Create(device);
        _gemm.Quantize(loadStream, source, Weights);
    }

    /// <inheritdoc/>
    public override string Label => Activation == DType.BF16 ? "bf16" : "fp16";

    /// <inheritdoc/>
    public override void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ThrowIfDisposed();
        _gemm.Run(stream, problem, Weights);
    }
}
