using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// Weight-only quantized experts (W8A16 / W4A16): int8 per-channel, int4 per-channel or int4 per group,
/// quantized on the device, dequantized in registers by the capturable group GEMM.
/// </summary>
public sealed class WeightOnlyMoeMethod : MoeMethodBase
{
    private readonly GroupGemm _gemm;

    /// <summary>Quantizes bf16/fp16 <paramref name="source"/> [E, N, K] on <paramref name="device"/> to <paramref name="mode"/> (wint8 per channel, or wint4 per channel or per <paramref name="groupSize"/>) on <paramref name="loadStream"/>; the source stays the caller's.</summary>
    public WeightOnlyMoeMethod(QuantMode mode, Device device, ComputeStream loadStream, Tensor source, GroupSize groupSize)
        : base(mode, device, source, FormatOf(mode, groupSize), groupSize)
    {
        _gemm = GroupGemm.Create(device);
        _gemm.Quantize(loadStream, source, Weights);
    }

    internal static ExpertWeightFormat FormatOf(QuantMode mode, GroupSize groupSize) => mode switch
    {
        QuantMode.WInt8 when groupSize.IsPerChannel => ExpertWeightFormat.Int8PerChannel,
        QuantMode.WInt4 => groupSize.IsPerChannel ? ExpertWeightFormat.Int4PerChannel : ExpertWeightFormat.Int4Group,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, $"weight-only experts are wint8 (per-channel) or wint4; got {mode.Label()} with group size {groupSize}"),
    };

    /// <inheritdoc/>
    public override string Label => Weights.IsGrouped ? $"{Mode.Label()}/{Weights.GroupSize}" : Mode.Label();

    /// <inheritdoc/>
    public override void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ThrowIfDisposed();
        _gemm.Run(stream, problem, Weights);
    }
}
