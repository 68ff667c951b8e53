using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;

namespace GraphEngine.Models.Loading;

/// <summary>
/// Runs engine layers of a <see cref="LoadedModel"/> eagerly on given rows, for checks against an oracle: writes
/// the device token count, the input rows (and, for a norm that adds into the residual stream, the residual
/// rows), poisons the output with NaN so an unwritten element shows, forwards at the padded size a step of n
/// tokens replays at, and reads the output rows back.
/// </summary>
public static class LayerProbe
{
    /// <summary>
    /// Forwards <paramref name="layers"/> in order (each reading what the previous wrote: a dense MLP's three
    /// steps) from <paramref name="input"/> [n, in] and returns the last one's output [n, out]. A fused-residual
    /// norm adds <paramref name="residual"/> (zeros when null) to its input first.
    /// </summary>
    public static float[] Run(LoadedModel model, IReadOnlyList<LoadedLayer> layers, float[] input, int n, float[]? residual = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(input);
        if (layers.Count == 0) throw new ArgumentException("no layer to run", nameof(layers));
        var engine = model.Engine;
        if (n < 1 || n > engine.MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"token count must be in [1, {engine.MaxTokens}]");
        var s = engine.Stream;
        int padded = engine.PaddedSize(n) ?? n;
        var first = layers[0].Layer;
        first.Input.SliceRows(0, n).UploadFloats(input);
        if (first is RmsNorm { Residual: { } r })
            r.SliceRows(0, n).UploadFloats(residual ?? new float[n * r.RowElements]);
        foreach (var l in layers) l.Layer.Output.Poison(s);
        s.Fill32Async(engine.Context.TokenCount, (uint)n, 1);
        foreach (var l in layers) l.Layer.Forward(s, padded);
        s.Synchronize();
        return layers[^1].Layer.Output.SliceRows(0, n).DownloadFloats();
    }

    /// <see cref="Run(LoadedModel, IReadOnlyList{LoadedLayer}, float[], int, float[])"/> with one layer: <paramref name="input"/> [n, in] to its output [n, out].
    public static float[] Run(LoadedModel model, LoadedLayer layer, float[] input, int n, float[]? residual = null) =>
        Run(model, new[] { layer }, input, n, residual);

    /// <summary>The experts a MoE layer chose in its last forward, [n, k].</summary>
    public static int[] ChosenExperts(LoadedLayer layer, int n)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var moe = layer.Layer as Moe ?? throw new ArgumentException($"'{layer.Layer.Name}' is not a MoE layer", nameof(layer));
        return moe.TopIds.SliceRows(0, n).DownloadInts();
    }
}
