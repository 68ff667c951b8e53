using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// Compares a loaded model with outputs another implementation recorded (bench/interop/transformers_layers.py
/// writes them from transformers): a safetensors file of <c>layers.{i}.n{n}.{sublayer}.in</c> / <c>.out</c> pairs
/// (F32 holding bf16 values) for sublayers input_layernorm, self_attn.qkv_proj ([q | k | v]), self_attn.o_proj,
/// post_attention_layernorm and mlp (the dense MLP or the MoE block), plus <c>.expert_ids</c> [n, k] (I32 or I64)
/// for a MoE block. Each input is fed to the engine's layers; norms that add into the residual stream get a
/// zero residual, so they normalise the recorded input exactly.
/// </summary>
public static partial class OracleFileCheck
{
    /// <summary>
    /// Relative Frobenius tolerance against transformers: both compute in bf16 with fp32 accumulation but round
    /// at different points (transformers rounds the normalised value before the norm weight, the attention
    /// projections separately, every expert's output before index_add; the engine fuses q/k/v, gate/up and
    /// the combine), so each side is about 5e-3 from float64 and the two up to 1e-2 apart; 2e-2 leaves room.
    /// </summary>
    public const double Tolerance = 2e-2;

    /// <summary>Feeds each recorded input in <paramref name="oracleFile"/> to the matching layers of <paramref name="model"/> and compares with the recorded output against <see cref="Tolerance"/>; for a MoE block, <paramref name="oracle"/> tells a near-tie swap of experts from a mismatch. One row per sublayer and count.</summary>
    public static IReadOnlyList<CheckRow> Run(LoadedModel model, Float64Oracle oracle, string oracleFile)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(oracle);
        using var file = SafetensorsFile.Open(oracleFile);
        var cases = new SortedSet<(int Tokens, int Layer, int Order, string Sublayer)>();
        foreach (var name in file.Entries.Keys)
        {
            var m = InputName().Match(name);
            if (!m.Success) continue;
            int layer = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            int n = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            string sub = m.Groups[3].Value;
            int order = Array.IndexOf(Sublayers, sub);
            if (order < 0)
                throw new CheckpointException(oracleFile, name, $"unknown sublayer '{sub}'; known: {string.Join(", ", Sublayers)}");
            if (layer >= model.Description.Layers)
                throw new CheckpointException(oracleFile, name, $"names layer {layer}; the model has {model.Description.Layers}");
            if (n < 1 || n > model.Engine.MaxTokens)
                throw new CheckpointException(oracleFile, name, $"has {n} tokens; the engine takes 1..{model.Engine.MaxTokens}");
            cases.Add((n, layer, order, sub));
        }
        if (cases.Count == 0) throw new CheckpointException(oracleFile, null, "holds no 'layers.{i}.n{n}.{sublayer}.in' tensor");

        var rows = new List<CheckRow>();
        foreach (var (n, i, _, sub) in cases)
        {
            string prefix = $"layers.{i}.n{n}.{sub}";
            var input = Floats(file, $"{prefix}.in", oracleFile);
            var expected = Floats(file, $"{prefix}.out", oracleFile).Select(v => (double)v).ToArray();
            var layers = Layers(model, i, sub);
            int inWidth = checked((int)layers[0].Layer.Input.Dim(1)), outWidth = checked((int)layers[^1].Layer.Output.Dim(1));
            if (input.Length != n * inWidth || expected.Length != n * outWidth)
                throw new CheckpointException(oracleFile, prefix,
                    $"holds {input.Length} / {expected.Length} values; layer {i} {sub} at n={n} "
                    + $"takes [{n}, {inWidth}] to [{n}, {outWidth}]");
            var got = LayerProbe.Run(model, layers, input, n);
            if (layers[^1].Role != LayerRole.Moe)
            {
                rows.Add(ModelCheck.Row(i, sub, n, expected, got, Tolerance));
                continue;
            }
            rows.Add(CompareMoe(oracle, file, oracleFile, prefix, i, n, input, expected, got, LayerProbe.ChosenExperts(layers[^1], n)));
        }
        return rows;
    }

    private static readonly string[] Sublayers =
        { "input_layernorm", "self_attn.qkv_proj", "self_attn.o_proj", "post_attention_layernorm", "mlp" };

    [GeneratedRegex(@"^layers\.(\d+)\.n(\d+)\.(.+)\.in$")]
    private static partial Regex InputName();

    /// <summary>
    /// Experts: a token where the engine and the recording chose different sets is a near-tie swap when both
    /// choices are within the float64 oracle's tie margin of its k-th score (left out of the error, since the
    /// row then sums other experts), else a mismatch (the row fails).
    /// </summary>
    private static CheckRow CompareMoe(Float64Oracle oracle, SafetensorsFile file, string path, string prefix, int layer, int n,
        float[] input, double[] expected, float[] got, int[] engineIds)
    {
        var recorded = Ints(file, $"{prefix}.expert_ids", path);
        int k = oracle.Model.DecoderLayers[layer].Moe!.TopK, h = oracle.Model.Hidden;
        if (recorded.Length != n * k)
            throw new CheckpointException(path, $"{prefix}.expert_ids", $"holds {recorded.Length} ids, not [{n}, {k}]");
        var x = input.Select(v => (double)v).ToArray();
        var byEngine = oracle.Moe(layer, x, n, engineIds);
        var byRecording = oracle.Moe(layer, x, n, recorded);
        int ties = 0, mismatches = 0;
        var keep = new List<int>();
        for (int t = 0; t < n; t++)
        {
            bool same = engineIds.AsSpan(t * k, k).ToArray().Order().SequenceEqual(recorded.AsSpan(t * k, k).ToArray().Order());
            if (same) keep.Add(t);
            else if (byEngine.Mismatched[t] || byRecording.Mismatched[t]) mismatches++;
            else ties++;
        }
        var e = keep.SelectMany(t => expected.AsSpan(t * h, h).ToArray()).ToArray();
        var a = keep.SelectMany(t => got.AsSpan(t * h, h).ToArray()).ToArray();
        var row = keep.Count == 0
            ? new CheckRow(layer, "mlp", n, 0, Tolerance)
            : ModelCheck.Row(layer, "mlp", n, e, a, Tolerance);
        return row with { Mismatches = mismatches, Ties = ties };
    }

    /// <summary>The engine layers that compute <paramref name="sublayer"/> of decoder layer <paramref name="layer"/>, in order.</summary>
    private static IReadOnlyList<LoadedLayer> Layers(LoadedModel model, int layer, string sublayer) => sublayer switch
    {
        "input_layernorm" => new[] { model.Layer(layer, LayerRole.InputNorm) },
        "self_attn.qkv_proj" => new[] { model.Layer(layer, LayerRole.QkvProj) },
        "self_attn.o_proj" => new[] { model.Layer(layer, LayerRole.OProj) },
        "post_attention_layernorm" => new[] { model.Layer(layer, LayerRole.PostAttentionNorm) },
        _ => model.Description.DecoderLayers[layer].IsMoe
            ? new[] { model.Layer(layer, LayerRole.Moe) }
            : new[]
            {
                model.Layer(layer, LayerRole.DenseGateUp), model.Layer(layer, LayerRole.DenseAct), model.Layer(layer, LayerRole.DenseDown),
            },
    };

    private static SafetensorsEntry Entry(SafetensorsFile file, string name, string path) =>
        file.Entries.TryGetValue(name, out var e) ? e : throw new CheckpointException(path, name, "tensor is missing from the oracle file");

    private static float[] Floats(SafetensorsFile file, string name, string path)
    {
        var e = Entry(file, name, path);
        if (e.DType != SafetensorsDType.F32) throw new CheckpointException(path, name, $"is {e.DType.HeaderName()}; oracle values are F32");
        return MemoryMarshal.Cast<byte, float>(file.GetSpan(e)).ToArray();
    }

    private static int[] Ints(SafetensorsFile file, string name, string path)
    {
        var e = Entry(file, name, path);
        var bytes = file.GetSpan(e);
        return e.DType switch
        {
            SafetensorsDType.I32 => MemoryMarshal.Cast<byte, int>(bytes).ToArray(),
            SafetensorsDType.I64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray().Select(v => checked((int)v)).ToArray(),
            _ => throw new CheckpointException(path, name, $"is {e.DType.HeaderName()}; expert ids are I32 or I64"),
        };
    }
}
