using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Samples.RealModel;

/// <summary>One step another implementation ran: its token ids, its final hidden states and, per MoE layer, the experts its router chose.</summary>
public sealed record ExpectedStep(int Tokens, int[] TokenIds, float[] HiddenStates, IReadOnlyDictionary<int, int[]> ExpertIds);

/// <summary>
/// Reads the file bench/interop/transformers_e2e.py writes: for each step of n tokens <c>input_ids.n{n}</c> ([n], I64 or
/// I32), <c>last_hidden_state.n{n}</c> ([n, hidden], F32 holding transformers' bf16 values) and, for every MoE layer i,
/// <c>expert_ids.n{n}.layers.{i}</c> ([n, k], I64 or I32). Every problem is a <see cref="CheckpointException"/> naming the
/// file and the tensor.
/// </summary>
public static partial class ExpectedStates
{
    [GeneratedRegex(@"^input_ids\.n(\d+)$")]
    private static partial Regex IdsName();

    /// <summary>The steps in <paramref name="path"/>, in increasing n, checked against <paramref name="model"/>'s shapes.</summary>
    public static IReadOnlyList<ExpectedStep> Read(string path, ModelDescription model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var file = SafetensorsFile.Open(path);
        var steps = new List<ExpectedStep>();
        foreach (var name in file.Entries.Keys)
        {
            var m = IdsName().Match(name);
            if (!m.Success) continue;
            int n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var ids = Ints(file, path, name, n);
            for (int i = 0; i < n; i++)
                if ((uint)ids[i] >= (uint)model.Vocab)
                    throw new CheckpointException(path, name, $"token {i} has id {ids[i]}, outside the vocabulary [0, {model.Vocab})");
            string hiddenName = $"last_hidden_state.n{n}";
            var hidden = Floats(file, path, hiddenName, (long)n * model.Hidden);
            var experts = new Dictionary<int, int[]>();
            foreach (int layer in model.MoeLayerIndices)
            {
                string idsName = $"expert_ids.n{n}.layers.{layer}";
                experts[layer] = Ints(file, path, idsName, (long)n * model.DecoderLayers[layer].Moe!.TopK);
            }
            steps.Add(new ExpectedStep(n, ids, hidden, experts));
        }
        if (steps.Count == 0) throw new CheckpointException(path, null, "holds no 'input_ids.n{n}' tensor");
        return steps.OrderBy(s => s.Tokens).ToArray();
    }

    private static SafetensorsEntry Entry(SafetensorsFile file, string path, string name, long count)
    {
        if (!file.Entries.TryGetValue(name, out var e)) throw new CheckpointException(path, name, "tensor is missing");
        if (e.ElementCount != count) throw new CheckpointException(path, name, $"holds {e.ElementCount} values, not {count}");
        return e;
    }

    private static float[] Floats(SafetensorsFile file, string path, string name, long count)
    {
        var e = Entry(file, path, name, count);
        if (e.DType != SafetensorsDType.F32) throw new CheckpointException(path, name, $"is {e.DType.HeaderName()}; hidden states are F32");
        return MemoryMarshal.Cast<byte, float>(file.GetSpan(e)).ToArray();
    }

    private static int[] Ints(SafetensorsFile file, string path, string name, long count)
    {
        var e = Entry(file, path, name, count);
        var bytes = file.GetSpan(e);
        return e.DType switch
        {
            SafetensorsDType.I32 => MemoryMarshal.Cast<byte, int>(bytes).ToArray(),
            SafetensorsDType.I64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray()
                .Select(v => v is >= int.MinValue and <= int.MaxValue ? (int)v : throw new CheckpointException(path, name, $"holds {v}, not an int32")).ToArray(),
            _ => throw new CheckpointException(path, name, $"is {e.DType.HeaderName()}; ids are I32 or I64"),
        };
    }
}
