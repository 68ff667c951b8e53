using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// A checkpoint built into an engine: its description, the layers in execution order with their roles, the
/// buffers a caller fills and reads (as <see cref="BuiltModel"/> has them) and the tensors left to the
/// application. The engine owns the layers; this object owns the activation buffers and gives them back on
/// <see cref="Dispose"/>, which must come after the engine is done with the layers.
/// </summary>
public sealed class LoadedModel : IDisposable
{
    private readonly IReadOnlyList<IDisposable> _buffers;

    internal LoadedModel(PrefillEngine engine, ModelDescription description, ExpertLayout layout, IReadOnlyList<LoadedLayer> layers,
        IReadOnlyDictionary<string, ExtraTensor> extra, Tensor input, Tensor output, Tensor qkv, Tensor attentionOut,
        IReadOnlyList<IDisposable> buffers)
    {
        Engine = engine;
        Description = description;
        Layout = layout;
        Layers = layers;
        Extra = extra;
        Input = input;
        Output = output;
        Qkv = qkv;
        AttentionOut = attentionOut;
        _buffers = buffers;
    }

    public PrefillEngine Engine { get; }
    public ModelDescription Description { get; }
    public ExpertLayout Layout { get; }
    public IReadOnlyList<LoadedLayer> Layers { get; }

    /// <summary>Tensors no engine layer uses, by name.</summary>
    public IReadOnlyDictionary<string, ExtraTensor> Extra { get; }

    /// <summary>[MaxTokens, hidden]: the residual stream.</summary>
    public Tensor Input { get; }

    /// <summary>[MaxTokens, hidden]: the last MLP's output.</summary>
    public Tensor Output { get; }

    /// <summary>[MaxTokens, (heads + 2 kv_heads) x head_dim]: qkv_proj's output, [q | k | v].</summary>
    public Tensor Qkv { get; }

    /// <summary>[MaxTokens, heads x head_dim]: what o_proj reads; the application's attention writes it.</summary>
    public Tensor AttentionOut { get; }

    public LoadedLayer Layer(int decoderLayer, LayerRole role) =>
        Layers.FirstOrDefault(l => l.DecoderLayer == decoderLayer && l.Role == role)
        ?? throw new ArgumentException($"decoder layer {decoderLayer} has no {role} layer");

    /// <summary>The same layers and buffers seen as a preset build, for the commands that run either.</summary>
    public BuiltModel AsBuilt(ModelPreset preset, GraphEngine.Layers.QuantConfig quant) =>
        new(Engine, preset, quant, Input, Output, AttentionOut, Qkv, Layers.Select(l => l.Layer).ToArray());

    public void Dispose()
    {
        for (int i = _buffers.Count - 1; i >= 0; i--) _buffers[i].Dispose();
    }
}
