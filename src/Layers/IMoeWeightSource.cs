using GraphEngine.Kernels;
using GraphEngine.Layers.Methods;

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

    /// <summary>
    /// The expert method for <see cref="MoeWeight.GateUp"/> or <see cref="MoeWeight.Down"/> built from weights the
    /// source already holds quantized (a pre-quantized checkpoint), so they reach the device as stored; null (the
    /// default) lets the layer allocate a bf16/fp16 source, <see cref="Fill"/> it and quantize it per its options.
    /// The method must be of the layer's quant mode and shape [E, N, K]; the layer owns it from here on.
    /// </summary>
    /// <param name="weight">GateUp or Down.</param>
    /// <param name="context">The layer's context (device, pool, MaxTokens).</param>
    /// <param name="options">The layer's options (shape, quant mode, token layout).</param>
    /// <param name="maxRows">The most rows one group GEMM carries (tokens x top-k for prefix sums, tokens per slab when padded).</param>
    /// <param name="activation">The layer's activation type.</param>
    IMoeMethod? Prequantized(MoeWeight weight, LayerContext context, MoeOptions options, int maxRows, DType activation) => null;
}
