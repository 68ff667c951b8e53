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

    public WeightOnlyMoeMethod(QuantMode mode, Device device, ComputeStream loadStream, Tensor source, GroupSize groupSize)
        : base(mode, device, source, FormatOf(mode, groupSize), groupSize)
    {
        _gemm = GroupGemm.Create(device);
        _gemm.Quantize(loadStream, source, Weights);
    }

    private static ExpertWeightFormat FormatOf(QuantMode mode, GroupSize groupSize) => mode switch
    {
        QuantMode.WInt8 when groupSize.IsPerChannel => ExpertWeightFormat.Int8PerChannel,
        QuantMode.WInt4 => groupSize.IsPerChannel ? ExpertWeightFormat.Int4PerChannel : ExpertWeightFormat.Int4Group,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, $"weight-only experts are wint8 (per-channel) or wint4; got {mode.Label()} with group size {groupSize}"),
    };

    public override string Label => Weights.IsGrouped ? $"{Mode.Label()}/{Weights.GroupSize}" : Mode.Label();

    public override void Forward(ComputeStream stream, GroupGemmProblem problem) => _gemm.Run(stream, problem, Weights);
}
