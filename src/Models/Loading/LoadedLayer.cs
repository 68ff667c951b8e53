using GraphEngine.Layers;

namespace GraphEngine.Models.Loading;

/// <summary>One engine layer of a loaded model: the decoder layer it belongs to and its role there.</summary>
public sealed record LoadedLayer(int DecoderLayer, LayerRole Role, Layer Layer);
