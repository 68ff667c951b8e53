using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;

namespace GraphEngine.Conformance;

/// <summary>One layer of a test stack: its name, how to build it, and the width it writes.</summary>
internal sealed record StackLayer(string Name, Func<LayerContext, string, Tensor, Tensor, Layer> Create, long OutWidth);

/// <summary>
/// An engine holding a chain of layers x0 -> x1 -> ... over engine activations, with the steps every
/// graph case and test repeats: poison every activation with NaN, upload the n valid input rows, run,
/// read rows [0, n) of the last activation.
/// </summary>
internal sealed class GraphStack : IDisposable
{
    private GraphStack(PrefillEngine engine, Tensor[] activations, Layer[] layers)
    {
        Engine = engine;
        Activations = activations;
        Layers = layers;
    }

    public PrefillEngine Engine { get; }
    public Tensor[] Activations { get; }
    public Layer[] Layers { get; }
    public Tensor Input => Activations[0];
    public Tensor Output => Activations[^1];

    public static GraphStack Build(Device device, BlockWiseGraphOptions options, int maxTokens, DType dtype, long inWidth,
        IReadOnlyList<StackLayer> spec)
    {
        var engine = new PrefillEngine(device, options, maxTokens);
        try
        {
            var acts = new Tensor[spec.Count + 1];
            var layers = new Layer[spec.Count];
            acts[0] = engine.Activation("x0", dtype, inWidth);
            for (int i = 0; i < spec.Count; i++)
            {
                acts[i + 1] = engine.Activation($"x{i + 1}", dtype, spec[i].OutWidth);
                layers[i] = engine.Add(spec[i].Create(engine.Context, spec[i].Name, acts[i], acts[i + 1]));
            }
            return new GraphStack(engine, acts, layers);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>n rows of random non-zero input in [-1, 1], fixed by the seed.</summary>
    public float[] RandomInput(int n, int seed)
    {
        var rng = new System.Random(seed);
        var v = new float[n * Input.Dim(1)];
        for (int i = 0; i < v.Length; i++)
        {
            float x = (float)(rng.NextDouble() * 2 - 1);
            v[i] = x == 0 ? 0.5f : x;
        }
        return v;
    }

    /// <summary>Every activation NaN, then the n valid input rows: padded rows hold NaN throughout.</summary>
    public void PoisonAndLoad(int n, ReadOnlySpan<float> input)
    {
        foreach (var a in Activations) a.Poison(Engine.Stream);
        Engine.Stream.Synchronize();        // host copies below are ordered with the default stream only
        if (n > 0) Input.SliceRows(0, n).UploadFloats(input);
    }

    /// <summary>The engine's own path: Prefill(n).</summary>
    public float[] Prefill(int n, ReadOnlySpan<float> input)
    {
        PoisonAndLoad(n, input);
        Engine.Prefill(n);
        return ReadOutput(n);
    }

    /// <summary>Every layer eagerly at <paramref name="padded"/> rows with the device count n: what a graph of that size replays.</summary>
    public float[] EagerAt(int n, int padded, ReadOnlySpan<float> input)
    {
        PoisonAndLoad(n, input);
        Engine.WriteTokenCount(n);
        foreach (var l in Layers) l.Forward(Engine.Stream, padded);
        return ReadOutput(n);
    }

    public float[] ReadOutput(int n)
    {
        Engine.Stream.Synchronize();
        return n == 0 ? Array.Empty<float>() : Output.SliceRows(0, n).DownloadFloats();
    }

    public void Dispose() => Engine.Dispose();
}
