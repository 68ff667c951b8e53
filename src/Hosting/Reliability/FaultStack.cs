using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;

namespace GraphEngine.Hosting.Reliability;

/// <summary>
/// An engine holding a chain of layers x0 -> x1 -> ... over bf16 activations of <see cref="Width"/> columns, with the
/// step every fault case repeats: every activation poisoned with NaN, n random input rows loaded, Prefill(n), rows
/// [0, n) of the last activation read back.
/// </summary>
public sealed class FaultStack : IDisposable
{
    /// <summary>Columns of every activation: a multiple of 64 (group-64 int4 and the fp8 blocks), small for the reference backend.</summary>
    public const long Width = 64;

    private readonly List<Tensor> _activations = new();

    private FaultStack(PrefillEngine engine) => Engine = engine;

    /// <summary>The stack's engine (owned).</summary>
    public PrefillEngine Engine { get; }

    /// <summary>An engine on <paramref name="device"/> with <paramref name="options"/> and <paramref name="layers"/> (name, kind) in order.</summary>
    public static FaultStack Build(Device device, BlockWiseGraphOptions options, int maxTokens, IReadOnlyList<(string Name, FaultLayerKind Kind)> layers)
    {
        var stack = new FaultStack(new PrefillEngine(device, options, maxTokens));
        try
        {
            stack._activations.Add(stack.Engine.Activation("x0", DType.BF16, Width));
            foreach (var (name, kind) in layers) stack.Append(name, kind);
            return stack;
        }
        catch
        {
            stack.Dispose();
            throw;
        }
    }

    /// <summary>Adds a layer of <paramref name="kind"/> reading the last activation and writing a new one.</summary>
    public Layer Append(string name, FaultLayerKind kind)
    {
        var mark = Engine.Mark();
        try
        {
            var output = Engine.Activation($"x{_activations.Count}", DType.BF16, Width);
            var layer = Engine.Add(kind.Create(Engine.Context, name, _activations[^1], output));
            _activations.Add(output);
            return layer;
        }
        catch
        {
            Engine.RollbackTo(mark);
            throw;
        }
    }

    /// <summary>One step of <paramref name="n"/> tokens from input drawn with <paramref name="seed"/>: rows [0, n) of the last activation.</summary>
    public float[] Prefill(int n, int seed)
    {
        var stream = Engine.Stream;
        foreach (var a in _activations) a.Poison(stream);
        stream.Synchronize();
        var rng = new System.Random(seed);
        var input = new float[n * Width];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(rng.NextDouble() * 2 - 1) is var x && x != 0 ? x : 0.5f;
        _activations[0].SliceRows(0, n).UploadFloats(input);
        Engine.Prefill(n);
        stream.Synchronize();
        return _activations[^1].SliceRows(0, n).DownloadFloats();
    }

    /// <summary>Disposes the engine (its layers, activations, pool and stream).</summary>
    public void Dispose() => Engine.Dispose();
}
