using GraphEngine.Models.Loading;
using GraphEngine.Tests.Models.Checkpoints;
using GraphEngine.Tests.Models.Loading;

namespace GraphEngine.Tests.Cli;

/// <summary>
/// Writes an oracle file in the layout bench/interop/transformers_layers.py writes, from the float64 oracle
/// (outputs rounded to bf16 as transformers' would be), so the comparison path runs in CI without transformers.
/// <paramref name="corrupt"/>: a "layers.{i}.n{n}" whose o_proj output is scaled by 1.05 and whose first token's
/// recorded experts are replaced by the lowest-scored ones.
/// </summary>
internal static class OracleFileWriter
{
    public static void Write(TinyCheckpoint ckpt, string path, int[] tokenCounts, string? corrupt)
    {
        var m = ckpt.Model;
        var oracle = new Float64Oracle(m, ckpt.Weight);
        var rng = new Random(5);
        var w = new SafetensorsTestWriter();
        void Add(string name, int n, double[] v) =>
            w.Add(name, "F32", new long[] { n, v.Length / n },
                TinyCheckpoint.Encode("F32", v.Select(x => GraphEngine.Kernels.Numerics.Bf16.Round((float)x)).ToArray()));
        foreach (int n in tokenCounts)
            for (int i = 0; i < m.Layers; i++)
            {
                string p = $"layers.{i}.n{n}";
                bool bad = corrupt == p;
                double[] In(int width, float scale)
                {
                    var x = ModelCheck.Random(rng, n * width, scale);
                    return x.Select(v => (double)v).ToArray();
                }
                var h = In(m.Hidden, 2f);
                Add($"{p}.input_layernorm.in", n, h);
                Add($"{p}.input_layernorm.out", n, oracle.Norm(i, false, h, n));
                var x1 = In(m.Hidden, 1f);
                Add($"{p}.self_attn.qkv_proj.in", n, x1);
                Add($"{p}.self_attn.qkv_proj.out", n, oracle.Qkv(i, x1, n));
                var a = In(m.QOut, 1f);
                Add($"{p}.self_attn.o_proj.in", n, a);
                Add($"{p}.self_attn.o_proj.out", n, oracle.OProj(i, a, n).Select(v => bad ? v * 1.05 : v).ToArray());
                var h2 = In(m.Hidden, 2f);
                Add($"{p}.post_attention_layernorm.in", n, h2);
                Add($"{p}.post_attention_layernorm.out", n, oracle.Norm(i, true, h2, n));
                var x2 = In(m.Hidden, 1f);
                Add($"{p}.mlp.in", n, x2);
                if (m.DecoderLayers[i].Moe is not { } moe)
                {
                    Add($"{p}.mlp.out", n, oracle.DenseMlp(i, x2, n));
                    continue;
                }
                var r = oracle.Moe(i, x2, n);
                var ids = r.Ids.ToArray();
                if (bad)
                {
                    var worst = Enumerable.Range(0, moe.Experts).OrderBy(e => r.Scores[e]).Take(moe.TopK).ToArray();
                    worst.CopyTo(ids, 0);
                }
                Add($"{p}.mlp.out", n, r.Output);
                w.Add($"{p}.mlp.expert_ids", "I64", new long[] { n, moe.TopK },
                    ids.SelectMany(v => BitConverter.GetBytes((long)v)).ToArray());
            }
        w.Write(path);
    }
}
