using GraphEngine.Graph;
using GraphEngine.Kernels.Random;
using GraphEngine.Models;

namespace GraphEngine.Tests.Graph;

/// <summary>
/// The application's eager steps (AddEager): split points that Prefill runs in plan order between the engine's
/// graphs, with the step's token count, never captured; in Segment granularity the layers between two of them
/// are one graph per size.
/// </summary>
public class EagerStepTests
{
    private static readonly int[] Sizes = { 8, 64, 256 };

    // The stand-in for attention: writes o_proj's input from the token count (deterministic, never zeros).
    private static Action<ComputeStream, int> Attention(BuiltModel model, int layer, List<(int Layer, int N)> calls) => (stream, n) =>
    {
        calls.Add((layer, n));
        RandomFill.Create(model.Engine.Device).Uniform(stream, model.AttentionOut.SliceRows(0, n), (uint)(1000 * layer + n), 1f);
    };

    private static (PrefillEngine Engine, BuiltModel Model, List<(int Layer, int N)> Calls) Build(ReferenceDevice device, BlockWiseGraphOptions options)
    {
        var engine = new PrefillEngine(device, options, ModelPresets.Tiny.MaxTokens);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized, seed: 5);
        var calls = new List<(int, int)>();
        var qkvs = model.Layers.Where(l => l.Name.EndsWith(".qkv_proj", StringComparison.Ordinal)).ToList();
        for (int i = 0; i < qkvs.Count; i++)
            engine.AddEager($"layers.{i}.self_attn.attention", Attention(model, i, calls), after: qkvs[i]);
        return (engine, model, calls);
    }

    [Theory]
    [InlineData(Granularity.Segment)]
    [InlineData(Granularity.Layer)]
    public void Prefill_runs_the_steps_in_order_between_graphs_and_equals_a_hand_written_loop(Granularity granularity)
    {
        using var device = new ReferenceDevice();
        var (engine, model, calls) = Build(device, new BlockWiseGraphOptions { Sizes = Sizes, Granularity = granularity });
        using var _ = engine;
        engine.Capture();

        var (manualEngine, manual, manualCalls) = Build(device, new BlockWiseGraphOptions { Enabled = false });
        using var __ = manualEngine;
        foreach (int n in new[] { 5, 64, 100 })
        {
            calls.Clear();
            model.RandomizeInputs(9);
            engine.Prefill(n);
            engine.Stream.Synchronize();
            var graphs = model.Output.SliceRows(0, n).DownloadFloats();
            Assert.Equal(Enumerable.Range(0, 4).Select(i => (i, n)), calls);   // once per decoder layer, in order, with n

            // The loop an application would write by hand: every layer, and its own step after each qkv_proj.
            manual.RandomizeInputs(9);
            manualEngine.WriteTokenCount(n);
            int layer = 0;
            foreach (var l in manual.Layers)
            {
                l.Forward(manualEngine.Stream, n);
                if (l.Name.EndsWith(".qkv_proj", StringComparison.Ordinal))
                    Attention(manual, layer++, manualCalls)(manualEngine.Stream, n);
            }
            manualEngine.Stream.Synchronize();
            Assert.Equal(manual.Output.SliceRows(0, n).DownloadFloats(), graphs);
        }

        var listing = engine.Listing();
        var steps = listing.Layers.Where(l => l.Name.EndsWith(".attention", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, steps.Count);
        Assert.All(steps, s => Assert.Equal(FallbackKind.SplitPoint, s.Fallback));
        Assert.All(steps, s => Assert.Equal(3, s.EagerRuns));
        Assert.Equal(22 + 4 - 4, listing.GraphLayers);
        if (granularity == Granularity.Segment)
        {
            // Split at every attention step: before the first, three between, one after the last.
            Assert.Equal(5, listing.Segments.Count);
            Assert.Equal("layers.0.input_layernorm", listing.Segments[0].FirstLayer);
            Assert.Equal("layers.0.self_attn.qkv_proj", listing.Segments[0].LastLayer);
            Assert.Equal("layers.0.self_attn.o_proj", listing.Segments[1].FirstLayer);
            Assert.All(listing.Segments, s => Assert.Equal(3, s.Replays));
        }
    }

    [Fact]
    public void A_step_added_after_capture_drops_the_graphs_until_the_next_capture()
    {
        using var device = new ReferenceDevice();
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = Sizes }, ModelPresets.Tiny.MaxTokens);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized, seed: 5);
        engine.Capture();
        Assert.True(engine.IsCaptured);
        int runs = 0;
        var step = engine.AddEager("tail", (_, _) => runs++);
        Assert.False(engine.IsCaptured);
        Assert.Same(step, engine.Layers[^1]);
        engine.Capture();
        engine.Prefill(7);
        Assert.Equal(1, runs);
    }

    [Fact]
    public void Bad_registrations_name_the_value()
    {
        using var device = new ReferenceDevice();
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = Sizes }, ModelPresets.Tiny.MaxTokens);
        using var other = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = Sizes }, ModelPresets.Tiny.MaxTokens);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized, seed: 5);
        var foreign = ModelFactory.Build(other, ModelPresets.Tiny, QuantConfig.Unquantized, seed: 5);
        Assert.Throws<ArgumentNullException>(() => engine.AddEager("x", null!));
        Assert.Throws<ArgumentException>(() => engine.AddEager(" ", (_, _) => { }));
        var e = Assert.Throws<ArgumentException>(() => engine.AddEager("x", (_, _) => { }, after: foreign.Layers[0]));
        Assert.Contains(foreign.Layers[0].Name, e.Message);
        var dup = Assert.Throws<ArgumentException>(() => engine.AddEager(model.Layers[0].Name, (_, _) => { }));
        Assert.Contains("already added", dup.Message);
    }
}
