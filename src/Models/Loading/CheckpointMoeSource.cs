using GraphEngine.Kernels;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>Fills a <see cref="Moe"/> layer's weights from decoder layer <c>layer</c> of a checkpoint, in either expert layout.</summary>
internal sealed class CheckpointMoeSource : IMoeWeightSource
{
    private readonly Func<string, CheckpointTensor> _get;
    private readonly DeviceUpload _upload;
    private readonly int _layer, _experts, _hidden, _ffn;
    private readonly ExpertLayout _layout;
    private readonly QuantizedExperts? _quantized;

    /// <summary>A pre-quantized checkpoint's experts: per expert, the gate and up parts (stacked into GateUp) and down.</summary>
    public sealed record QuantizedExperts(IReadOnlyList<IReadOnlyList<QuantizedLinear>> GateUp, IReadOnlyList<IReadOnlyList<QuantizedLinear>> Down);

    public CheckpointMoeSource(Func<string, CheckpointTensor> get, DeviceUpload upload, int layer, MoeDescription moe, int hidden,
        ExpertLayout layout, QuantizedExperts? quantized = null)
    {
        _quantized = quantized;
        _get = get;
        _upload = upload;
        _layer = layer;
        _experts = moe.Experts;
        _hidden = hidden;
        _ffn = moe.ExpertFfn;
        _layout = layout;
    }

    public IMoeMethod? Prequantized(MoeWeight weight, LayerContext context, MoeOptions options, int maxRows, DType activation) =>
        _quantized is not { } q ? null
        : weight switch
        {
            MoeWeight.GateUp => PrequantizedMethods.Experts(context, activation, q.GateUp, maxRows, _upload),
            MoeWeight.Down => PrequantizedMethods.Experts(context, activation, q.Down, maxRows, _upload),
            _ => throw new ArgumentOutOfRangeException(nameof(weight), weight, "only the expert projections are quantized"),
        };

    public void Fill(MoeWeight weight, Tensor destination)
    {
        string p = TensorNames.Layer(_layer);
        switch (weight)
        {
            case MoeWeight.Router:
                _upload.To(_get(TensorNames.RouterGate(_layer)), destination);
                break;
            case MoeWeight.SelectionBias:
                _upload.To(_get(TensorNames.SelectionBias(_layer, _layout)), destination);
                break;
            case MoeWeight.GateUp when _layout == ExpertLayout.Fused:
                _upload.To(_get(TensorNames.FusedGateUp(_layer)), destination);
                break;
            case MoeWeight.Down when _layout == ExpertLayout.Fused:
                _upload.To(_get(TensorNames.FusedDown(_layer)), destination);
                break;
            case MoeWeight.GateUp:
                long slab = 2L * _ffn * _hidden;
                for (int e = 0; e < _experts; e++)
                {
                    _upload.To(_get(TensorNames.Expert(_layer, e, "gate_proj")), destination, e * slab);
                    _upload.To(_get(TensorNames.Expert(_layer, e, "up_proj")), destination, e * slab + (long)_ffn * _hidden);
                }
                break;
            case MoeWeight.Down:
                for (int e = 0; e < _experts; e++)
                    _upload.To(_get(TensorNames.Expert(_layer, e, "down_proj")), destination, (long)e * _hidden * _ffn);
                break;
            case MoeWeight.SharedGateUp:
                _upload.To(_get($"{p}.mlp.shared_experts.gate_proj.weight"), destination);
                _upload.To(_get($"{p}.mlp.shared_experts.up_proj.weight"), destination, destination.ElementCount / 2);
                break;
            case MoeWeight.SharedDown:
                _upload.To(_get($"{p}.mlp.shared_experts.down_proj.weight"), destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(weight), weight, "unknown MoE weight");
        }
    }
}
