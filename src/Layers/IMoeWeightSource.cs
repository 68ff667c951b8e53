using GraphEngine.Kernels;

namespace GraphEngine.Layers;

/// <summary>
/// Where a <see cref="Moe"/> layer's weights come from when they are not random: the layer allocates each
/// tensor (in the type and shape <see cref="MoeWeight"/> documents) and asks the source to fill it, so a
/// checkpoint loader writes straight into the layer's buffers (or the expert sources the quant methods read)
/// without a second device copy. Fill runs during construction, on the host thread, before any kernel of
/// the layer; it may upload synchronously.
/// </summary>
public interface IMoeWeightSource
{
    /// <summary>Writes the values of <paramref name="weight"/> into <paramref name="destination"/>, a device tensor of the type and shape <see cref="MoeWeight"/> gives; the layer owns the tensor.</summary>
    void Fill(MoeWeight weight, Tensor destination);
}
