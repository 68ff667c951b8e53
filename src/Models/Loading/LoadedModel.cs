using GraphEngine.Graph;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// A checkpoint built into an engine: its description, the layers in execution order with their roles, the
/// buffers a caller fills and reads (<see cref="EngineModel"/>'s, as a <see cref="BuiltModel"/> has them) and
/// the tensors left to the application. The engine owns the layers; this object owns the activation buffers and gives them back on
/// <see cref="Dispose"/>, which must come after the engine is done with the layers.
/// </summary>
public sealed class LoadedModel : EngineModel, IDisposable
{
    private readonly IReadOnlyList<IDisposable> _owned;

    internal LoadedModel(PrefillEngine engine, ModelDescription description, ExpertLayout layout, IReadOnlyList<LoadedLayer> layers,
        IReadOnlyDictionary<string, ExtraTensor> extra, ModelBuffers buffers, IReadOnlyList<IDisposable> owned)
        : base(engine, buffers)
    {
        Description = description;
        Layout = layout;
        Layers = layers;
        Extra = extra;
        _owned = owned;
    }

    /// <summary>The description parsed from config.json.</summary>
    public ModelDescription Description { get; }
    /// <summary>How the checkpoint stores its experts (fused or one tensor per expert).</summary>
    public ExpertLayout Layout { get; }
    /// <summary>The engine layers in execution order, each with its decoder layer and role.</summary>
    public IReadOnlyList<LoadedLayer> Layers { get; }

    /// <summary>Tensors no engine layer uses, by name.</summary>
    public IReadOnlyDictionary<string, ExtraTensor> Extra { get; }

    /// <summary>The layer of <paramref name="decoderLayer"/> with <paramref name="role"/>; <see cref="ArgumentException"/> when there is none.</summary>
    public LoadedLayer Layer(int decoderLayer, LayerRole role) =>
        Layers.FirstOrDefault(l => l.DecoderLayer == decoderLayer && l.Role == role)
        ?? throw new ArgumentException($"decoder layer {decoderLayer} has no {role} layer");

    /// <summary>The same layers and buffers seen as a preset build, for the commands that run either.</summary>
    public BuiltModel AsBuilt(ModelPreset preset, GraphEngine.Layers.QuantConfig quant) =>
        new(Engine, preset, quant, Buffers, Layers.Select(l => l.Layer).ToArray());

    /// <summary>Frees the activation buffers, in reverse order of creation; call it after the engine is disposed or done with the layers.</summary>
    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}
