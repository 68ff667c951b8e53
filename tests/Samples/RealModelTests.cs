using System.Reflection;
using System.Runtime.InteropServices;
using GraphEngine.Graph;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using GraphEngine.Samples.RealModel;
using GraphEngine.Tests.Models.Checkpoints;
using GraphEngine.Tests.Models.Loading;

namespace GraphEngine.Tests.Samples;

/// <summary>
/// samples/RealModel on the reference backend, on small random checkpoints the tests write: its forward against an
/// independent float64 forward (<see cref="Float64Forward"/>) at odd token counts between graph sizes (1, 7, 33 against
/// sizes 1, 8, 64), eager / Layer / Segment bit for bit, the comparison with a file of recorded states, and bad input.
/// Tolerance against float64: <see cref="ModelCheck.Float64Tolerance"/> (1e-2 relative Frobenius: the engine stores
/// bf16 buffers and rounds intermediates to bf16, a few roundings of 2^-8 compound to about 5e-3; the float64 chain rounds
/// at the same buffers, so one layer's error is bounded at a time).
/// </summary>
public class RealModelTests
{
    private static readonly int[] Counts = { 1, 7, 33 };
    private static readonly int[] Sizes = { 1, 8, 64 };
    private const int MaxTokens = 64;

    /// <summary>ERNIE with a small explicit base, so the rotation angles at these positions are large.</summary>
    private static readonly string ErnieSmallTheta = TinyCheckpoint.WithKeys(TinyCheckpoint.ErnieJson,
        "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 500.0}");

    public static TheoryData<string, string> Models => new()
    {
        { "ernie", TinyCheckpoint.ErnieJson },
        { "ernie-theta-500", ErnieSmallTheta },
        { "qwen3-moe", TinyCheckpoint.Qwen3MoeJson },
        { "llama", TinyCheckpoint.LlamaJson },
    };

    private sealed record Runs(TinyCheckpoint Checkpoint, int[][] Steps, Dictionary<ForwardMode, ushort[][]> Outputs,
        List<IReadOnlyList<RouterChoice>> Routing, AttentionConfig Attention, EngineListing SegmentListing);

    private static Runs RunAllModes(string dir, string json, int seed = 5)
    {
        var ckpt = new TinyCheckpoint(dir, json, seed);
        using var device = new ReferenceDevice();
        var steps = SampleRun.RandomSteps(Counts, ckpt.Model.Vocab);
        var outputs = new Dictionary<ForwardMode, ushort[][]>();
        var routing = new List<IReadOnlyList<RouterChoice>>();
        AttentionConfig? attention = null;
        EngineListing? listing = null;
        foreach (var mode in Enum.GetValues<ForwardMode>())
        {
            using var forward = DecoderForward.Build(device, dir, mode, MaxTokens, Sizes);
            attention = forward.Attention;
            var o = new ushort[steps.Length][];
            for (int i = 0; i < steps.Length; i++)
            {
                o[i] = forward.Run(steps[i]);
                if (mode == ForwardMode.Segment) routing.Add(forward.Routing(steps[i].Length));
            }
            outputs[mode] = o;
            if (mode == ForwardMode.Segment) listing = forward.Engine.Listing();
        }
        return new Runs(ckpt, steps, outputs, routing, attention!, listing!);
    }

    private static IReadOnlyDictionary<int, int[]> Chosen(IReadOnlyList<RouterChoice> routing) =>
        routing.ToDictionary(r => r.DecoderLayer, r => r.Chosen);

    private static float[] Floats(ushort[] bits) => bits.Select(Bf16.ToFloat).ToArray();

    [Theory]
    [MemberData(nameof(Models))]
    public void Forward_matches_float64_and_eager_layer_segment_are_bit_identical(string name, string json)
    {
        using var dir = new TempDirectory();
        var runs = RunAllModes(dir.Path, json);
        var m = runs.Checkpoint.Model;
        var reference = new Float64Forward(m, runs.Checkpoint.Weight, runs.Attention.RopeTheta, runs.Attention.Pairing);
        for (int i = 0; i < runs.Steps.Length; i++)
        {
            int n = runs.Steps[i].Length;
            var segment = runs.Outputs[ForwardMode.Segment][i];
            Assert.True(segment.SequenceEqual(runs.Outputs[ForwardMode.Layer][i]), $"{name} n={n}: Layer differs from Segment");
            Assert.True(segment.SequenceEqual(runs.Outputs[ForwardMode.Eager][i]), $"{name} n={n}: eager differs from Segment");
            var got = Floats(segment);
            Assert.All(got, v => Assert.True(float.IsFinite(v), $"{name} n={n}: a value was not written"));
            var expected = reference.Run(runs.Steps[i], Chosen(runs.Routing[i]));
            Assert.True(reference.Mismatches == 0, $"{name} n={n}: {reference.Mismatches} tokens routed apart from float64 beyond a near tie");
            double err = ModelCheck.RelativeFrobenius(expected, got);
            Assert.True(err <= ModelCheck.Float64Tolerance, $"{name} n={n}: rel err {err:E2} against float64");
        }
    }

    [Fact]
    public void The_listing_shows_a_split_point_per_layer_and_the_segments_between_them()
    {
        using var dir = new TempDirectory();
        var runs = RunAllModes(dir.Path, TinyCheckpoint.Qwen3MoeJson);
        var listing = runs.SegmentListing;
        var layers = runs.Checkpoint.Model.Layers;
        var splits = listing.Layers.Where(l => l.Fallback == FallbackKind.SplitPoint).Select(l => l.Name).ToArray();
        Assert.Equal(Enumerable.Range(0, layers).Select(i => $"layers.{i}.self_attn.attention"), splits);
        // Before the first attention, between two, and after the last (down to the final norm): layers + 1 segments.
        Assert.Equal(layers + 1, listing.Segments.Count);
        Assert.Equal("layers.0.input_layernorm", listing.Segments[0].FirstLayer);
        Assert.Equal("norm", listing.Segments[^1].LastLayer);
        Assert.All(listing.Segments, s => Assert.Equal(Counts.Length, s.Replays));
    }

    [Fact]
    public void The_float64_forward_tells_the_rotary_pairings_apart()
    {
        // The comparison above could not see a RoPE convention error if both pairings gave the same hidden states.
        using var dir = new TempDirectory();
        var runs = RunAllModes(dir.Path, ErnieSmallTheta);
        Assert.Equal(RotaryPairing.Interleaved, runs.Attention.Pairing);
        Assert.Equal(500.0, runs.Attention.RopeTheta);
        var wrong = new Float64Forward(runs.Checkpoint.Model, runs.Checkpoint.Weight, runs.Attention.RopeTheta, RotaryPairing.HalfSplit);
        int last = runs.Steps.Length - 1;
        double err = ModelCheck.RelativeFrobenius(wrong.Run(runs.Steps[last], Chosen(runs.Routing[last])),
            Floats(runs.Outputs[ForwardMode.Segment][last]));
        Assert.True(err > 10 * ModelCheck.Float64Tolerance, $"the other pairing is only {err:E2} away");
    }

    /// <summary>A file in transformers_e2e.py's layout with the float64 forward's states and the engine's expert choice.</summary>
    private static string WriteExpected(string path, Runs runs, Action<int, float[], Dictionary<int, int[]>>? edit = null)
    {
        var w = new SafetensorsTestWriter();
        var reference = new Float64Forward(runs.Checkpoint.Model, runs.Checkpoint.Weight, runs.Attention.RopeTheta, runs.Attention.Pairing);
        for (int i = 0; i < runs.Steps.Length; i++)
        {
            var ids = runs.Steps[i];
            int n = ids.Length;
            var chosen = Chosen(runs.Routing[i]).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
            var states = reference.Run(ids, chosen).Select(v => (float)v).ToArray();
            edit?.Invoke(n, states, chosen);
            w.Add($"input_ids.n{n}", "I64", new long[] { n }, MemoryMarshal.AsBytes(ids.Select(v => (long)v).ToArray().AsSpan()).ToArray());
            w.Add($"last_hidden_state.n{n}", "F32", new long[] { n, runs.Checkpoint.Model.Hidden }, MemoryMarshal.AsBytes(states.AsSpan()).ToArray());
            foreach (var (layer, e) in chosen)
                w.Add($"expert_ids.n{n}.layers.{layer}", "I64", new long[] { n, e.Length / n },
                    MemoryMarshal.AsBytes(e.Select(v => (long)v).ToArray().AsSpan()).ToArray());
        }
        return w.Write(path);
    }

    private static (int Exit, string Text) Sample(string dir, string expected)
    {
        using var device = new ReferenceDevice();
        var output = new StringWriter();
        var args = SampleArguments.Parse(new[] { "--model", dir, "--expected", expected, "--sizes", "1,8,64", "--max-tokens", "64" });
        int exit = new SampleRun(output).Run(device, args);
        return (exit, output.ToString());
    }

    [Fact]
    public void A_recorded_file_passes_and_a_wrong_element_or_routing_fails()
    {
        using var dir = new TempDirectory();
        var runs = RunAllModes(dir.Path, TinyCheckpoint.ErnieJson);
        string good = WriteExpected(dir.File("good.safetensors"), runs);
        var (exit, text) = Sample(dir.Path, good);
        Assert.True(exit == 0, text);
        Assert.Contains("result: PASS: final hidden states match transformers at n=1,7,33", text);
        Assert.Contains("n=33: eager, Layer and Segment bit-identical", text);
        Assert.Contains("3 split points, 4 segments", text);

        // One element of one row off by its row's RMS: the Frobenius norm over 33 x 64 values hides it, the element bound does not.
        string element = WriteExpected(dir.File("element.safetensors"), runs, (n, states, _) =>
        {
            if (n != 33) return;
            int h = runs.Checkpoint.Model.Hidden;
            double rms = Math.Sqrt(states.AsSpan(5 * h, h).ToArray().Sum(v => (double)v * v) / h);
            states[5 * h + 3] += (float)rms;
        });
        (exit, text) = Sample(dir.Path, element);
        Assert.True(exit == 1, text);
        Assert.Contains("result: FAIL", text);
        var line = text.Split('\n').Single(l => l.StartsWith("transformers n=33", StringComparison.Ordinal));
        Assert.Contains("FAIL", line);

        // Token 4's experts in layer 1 swapped for the two it scored lowest: not a near tie.
        string routing = WriteExpected(dir.File("routing.safetensors"), runs, (n, _, chosen) =>
        {
            if (n != 7) return;
            var r = runs.Routing[1].Single(c => c.DecoderLayer == 1);
            var lowest = Enumerable.Range(0, r.Experts).OrderBy(j => r.Scores[4 * r.Experts + j]).Take(r.TopK).ToArray();
            lowest.CopyTo(chosen[1], 4 * r.TopK);
        });
        (exit, text) = Sample(dir.Path, routing);
        Assert.True(exit == 1, text);
        Assert.Contains("n=7: rel Frobenius", text);
        Assert.Contains("1 routing mismatches", text);
    }
}
