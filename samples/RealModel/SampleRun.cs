using System.Globalization;
using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Models.Checkpoints;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Samples.RealModel;

/// <summary>
/// The sample's whole run: the checkpoint's forward in each <see cref="ForwardMode"/> over the same steps (each mode in
/// an engine of its own, built, run and disposed in turn, so only one copy of the weights is on the device at a time),
/// the three outputs compared bit for bit, the Segment engine's listing, and, when a file of transformers' states is
/// given, the comparison with it. Exit status: 0 when everything holds, 1 on any mismatch.
/// </summary>
public sealed class SampleRun
{
    private readonly TextWriter _out;

    /// <summary>A run printing to <paramref name="output"/>.</summary>
    public SampleRun(TextWriter output) => _out = output;

    /// <summary>The forwards of every mode, by mode, then step: final hidden states as bf16 bits.</summary>
    public Dictionary<ForwardMode, ushort[][]> Outputs { get; } = new();

    /// <summary>The Segment forward's routing per step.</summary>
    public List<IReadOnlyList<RouterChoice>> Routing { get; } = new();

    /// <summary>Runs <paramref name="args"/> on <paramref name="device"/>; 0 when the modes agree bit for bit and (with a file) transformers matches.</summary>
    /// <exception cref="CheckpointException">The checkpoint or the file of expected states cannot be used.</exception>
    public int Run(Device device, SampleArguments args, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(args);
        ModelDescription description;
        using (var checkpoint = CheckpointDirectory.Open(args.Model)) description = checkpoint.Describe();
        var expected = args.Expected is { } path ? ExpectedStates.Read(path, description) : null;
        var steps = expected?.Select(s => s.TokenIds).ToArray() ?? RandomSteps(args.Tokens, description.Vocab);
        int longest = steps.Max(s => s.Length);
        int maxTokens = args.MaxTokens ?? (int)Math.Min(PrefillEngine.MaxTokensLimit, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)longest));
        if (longest > maxTokens)
            throw new SampleUsageException($"a step of {longest} tokens is above --max-tokens {maxTokens}");
        if (args.Sizes?.FirstOrDefault(s => s > maxTokens) is int size and > 0)
            throw new SampleUsageException($"graph size {size} (from --sizes) is above the {maxTokens} tokens a step may have (--max-tokens)");
        var sizes = args.Sizes ?? BlockWiseGraphOptions.DefaultSizes.Where(s => s <= maxTokens).DefaultIfEmpty(maxTokens).ToArray();
        Line($"device: {device.Info}");
        Line($"model: {description}");

        foreach (var mode in new[] { ForwardMode.Segment, ForwardMode.Layer, ForwardMode.Eager })
        {
            using var forward = DecoderForward.Build(device, args.Model, mode, maxTokens, sizes, logger);
            if (mode == ForwardMode.Segment) Line($"attention (the sample's own, eager between the engine's graphs): {forward.Attention}");
            var outputs = new ushort[steps.Length][];
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < steps.Length; i++)
            {
                outputs[i] = forward.Run(steps[i]);
                if (mode == ForwardMode.Segment) Routing.Add(forward.Routing(steps[i].Length));
            }
            Outputs[mode] = outputs;
            string graphs = forward.Capture is { } c ? $"{c.Graphs} graphs captured" : "no graphs";
            Line($"{mode,-7} {graphs}; steps n={string.Join(",", steps.Select(s => s.Length))} in {sw.Elapsed.TotalMilliseconds:F1} ms");
            if (mode == ForwardMode.Segment) PrintListing(forward.Engine.Listing());
        }

        bool ok = true;
        for (int i = 0; i < steps.Length; i++)
        {
            int n = steps[i].Length;
            var segment = Outputs[ForwardMode.Segment][i];
            int unwritten = segment.Count(b => float.IsNaN(GraphEngine.Kernels.Numerics.Bf16.ToFloat(b)));
            string layer = Difference(segment, Outputs[ForwardMode.Layer][i], description.Hidden);
            string eager = Difference(segment, Outputs[ForwardMode.Eager][i], description.Hidden);
            bool same = layer.Length == 0 && eager.Length == 0 && unwritten == 0;
            ok &= same;
            Line(same
                ? $"n={n}: eager, Layer and Segment bit-identical ({n} x {description.Hidden} bf16, all finite)"
                : $"n={n}: MISMATCH {(unwritten > 0 ? $"{unwritten} NaN in Segment's output; " : "")}{(layer.Length > 0 ? $"Layer vs Segment {layer}; " : "")}" +
                  $"{(eager.Length > 0 ? $"eager vs Segment {eager}" : "")}");
        }

        if (expected is null)
        {
            Line($"result: {(ok ? "PASS" : "FAIL")}: eager, Layer and Segment {(ok ? "bit-identical" : "differ")} at n={string.Join(",", steps.Select(s => s.Length))} " +
                 $"({device.Kind}, commit {BuildInfo.Describe()})");
            return ok ? 0 : 1;
        }
        var results = expected.Select((e, i) => HiddenStateCheck.Compare(e, Outputs[ForwardMode.Segment][i], Routing[i], description.Hidden,
            description.Layers)).ToArray();
        foreach (var r in results) Line($"transformers {r}");
        bool match = results.All(r => r.Passed);
        var worst = results.MaxBy(r => r.RelativeFrobenius)!;
        Line(string.Create(CultureInfo.InvariantCulture,
            $"result: {(match && ok ? "PASS" : "FAIL")}: final hidden states {(match ? "match" : "do not match")} transformers at n={string.Join(",", results.Select(r => r.Tokens))} " +
            $"(worst rel Frobenius {worst.RelativeFrobenius:0.00e+00} <= {worst.Tolerance:0.0e+00}, worst element {results.Max(r => r.WorstElement):F2} of its bound, " +
            $"{results.Sum(r => r.TiedRows)} near-tie rows); eager, Layer and Segment {(ok ? "bit-identical" : "differ")} ({device.Kind}, commit {BuildInfo.Describe()})"));
        return match && ok ? 0 : 1;
    }

    /// <summary>Token ids for steps of <paramref name="counts"/> tokens, uniform over the vocabulary, seeded so runs repeat.</summary>
    public static int[][] RandomSteps(IReadOnlyList<int> counts, int vocab)
    {
        var rng = new Random(20240611);
        return counts.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
    }

    /// <summary>Empty when <paramref name="a"/> and <paramref name="b"/> hold the same bits, else where they first differ.</summary>
    public static string Difference(ReadOnlySpan<ushort> a, ReadOnlySpan<ushort> b, int hidden)
    {
        if (a.Length != b.Length) return $"{a.Length} against {b.Length} values";
        int count = 0, first = -1;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i]) continue;
            if (first < 0) first = i;
            count++;
        }
        return count == 0 ? "" : $"{count} values differ, the first at row {first / hidden} column {first % hidden} " +
                                 $"(0x{a[first]:x4} against 0x{b[first]:x4})";
    }

    private void PrintListing(EngineListing listing)
    {
        var codes = listing.Segments.Select((s, i) => (s.Name, Code: $"S{i + 1}")).ToDictionary(x => x.Name, x => x.Code);
        Line($"  {"layer",-40} {"kind",-8} {"path",-6} {"replays",8} {"eager",6}  segment or reason");
        foreach (var l in listing.Layers)
        {
            string note = l.Segment is { } s && codes.TryGetValue(s, out var code) ? code : l.FallbackReason ?? "";
            Line($"  {l.Name,-40} {l.Kind,-8} {l.Path,-6} {l.Replays,8} {l.EagerRuns,6}  {note}");
        }
        for (int i = 0; i < listing.Segments.Count; i++)
        {
            var s = listing.Segments[i];
            Line($"  S{i + 1}: {s.FirstLayer} .. {s.LastLayer}, {s.LayerCount} layers, {s.Replays} replays");
        }
        int splits = listing.Layers.Count(l => l.Fallback == FallbackKind.SplitPoint);
        Line($"  {splits} split points, {listing.Segments.Count} segments; {listing.Graphs} graphs ({listing.Granularity}, sizes {string.Join(",", listing.Sizes)})");
    }

    private void Line(string text) => _out.WriteLine(text);
}
