using GraphEngine.Kernels.Numerics;
using GraphEngine.Models;

namespace GraphEngine.Hosting;

/// <summary>
/// Compares a model's eager step with its graph replay from the same input: the captured path must compute
/// what the eager one does, bit for bit.
/// </summary>
public static class ReplayCheck
{
    /// <summary>One step with every layer eager, on the engine's stream: what the engine does with graphs off.
    /// Writes the device token count itself, as Prefill does.</summary>
    public static void EagerStep(BuiltModel model, int n)
    {
        ArgumentNullException.ThrowIfNull(model);
        var s = model.Engine.Stream;
        s.Fill32Async(model.Engine.Context.TokenCount, (uint)n, 1);
        foreach (var layer in model.Layers) layer.Forward(s, n);
    }

    /// <summary>
    /// The largest |graph − eager| over the outputs' rows [0, n): <paramref name="eagerStep"/>, then every
    /// activation the model exposes (output, qkv) poisoned with NaN and the inputs re-filled, then
    /// <paramref name="graphStep"/>. A replay that computes nothing leaves the poison behind and reads NaN,
    /// never a false 0.
    /// </summary>
    public static float MaxDifference(BuiltModel model, int n, Action eagerStep, Action graphStep) =>
        Compare(model, n, eagerStep, graphStep).MaxAbs;

    /// <summary>
    /// The comparison behind <see cref="MaxDifference"/>, with the relative Frobenius error of the graph output
    /// against the eager one as well: on a GPU the eager step at n rows may run another GEMM algorithm than the
    /// graph at its padded size (about one bf16 ulp per layer), so a real replay can differ in the last bits.
    /// </summary>
    public static ReplayDifference Compare(BuiltModel model, int n, Action eagerStep, Action graphStep)
    {
        ArgumentNullException.ThrowIfNull(model);
        var s = model.Engine.Stream;
        model.RandomizeInputs(1234);
        eagerStep();
        s.Synchronize();
        var eager = model.Output.SliceRows(0, n).DownloadFloats();
        model.Output.Poison(s);
        model.Qkv.Poison(s);
        s.Synchronize();
        model.RandomizeInputs(1234);
        graphStep();
        s.Synchronize();
        var graph = model.Output.SliceRows(0, n).DownloadFloats();
        float max = 0;
        for (int i = 0; i < eager.Length; i++)
        {
            float d = MathF.Abs(eager[i] - graph[i]);
            if (float.IsNaN(d)) return new ReplayDifference(float.NaN, double.NaN);
            max = MathF.Max(max, d);
        }
        var expected = Array.ConvertAll(eager, v => (double)v);
        return new ReplayDifference(max, ErrorMetrics.RelativeFrobenius(expected, graph));
    }
}

/// <summary>How far a graph step's output is from the eager step's: the largest absolute difference and the relative Frobenius error (NaN when the replay left poisoned rows).</summary>
public readonly record struct ReplayDifference(float MaxAbs, double Relative)
{
    /// <summary>The bound `run` holds a CUDA replay to: the conformance suite's for graph vs eager at another row count.</summary>
    public const double CudaTolerance = 1e-2;

    /// <summary>Whether the replay computed the step: bit for bit on the reference backend, within <see cref="CudaTolerance"/> on CUDA, never NaN.</summary>
    public bool Acceptable(bool bitExact) => !float.IsNaN(MaxAbs) && (bitExact ? MaxAbs == 0 : Relative <= CudaTolerance);
}
