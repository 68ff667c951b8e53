using GraphEngine.Kernels;
using GraphEngine.Layers;

namespace GraphEngine.Bench;

/// <summary>
/// S layers of one kind run in turn, the whole turn R times, as one layer: what <see cref="RotatedTimer"/> captures.
/// Repeating the turn (0..S-1, 0..S-1, ...) rather than each instance keeps consecutive calls on different weights.
/// Owns its instances.
/// </summary>
internal sealed class RotationLayer : Layer
{
    private readonly Layer[] _instances;
    private readonly int _repeats;

    public RotationLayer(LayerContext context, string name, IReadOnlyList<Layer> instances, int repeats) : base(context, name)
    {
        if (instances.Count == 0) throw new ArgumentException("a rotation needs at least one instance", nameof(instances));
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        _instances = instances.Select(l => Own(l)).ToArray();
        _repeats = repeats;
    }

    public override LayerKind Kind => _instances[0].Kind;
    public override QuantMode Quant => _instances[0].Quant;
    public override string QuantLabel => _instances[0].QuantLabel;
    public override Tensor Input => _instances[0].Input;
    public override Tensor Output => _instances[0].Output;
    public override long WeightBytes => _instances[0].WeightBytes;

    public override Capturability Capturability =>
        _instances.Select(l => l.Capturability).FirstOrDefault(c => !c.CanCapture, Capturability.Yes);

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        for (int r = 0; r < _repeats; r++)
            foreach (var layer in _instances) layer.Forward(stream, paddedTokens);
    }
}
