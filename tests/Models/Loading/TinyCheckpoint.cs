using System.Runtime.InteropServices;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Tests.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Loading;

/// <summary>
/// A small random checkpoint in the transformers layout: config.json as given, and model.safetensors with
/// every tensor the config describes (bf16, the ERNIE router and selection bias fp32 as transformers keeps
/// them), seeded so a run is repeatable. <see cref="Values"/> holds what was written, for the float64 oracle.
/// <paramref name="edit"/> may change the tensor list before it is written (the bad-checkpoint cases).
/// </summary>
internal sealed class TinyCheckpoint
{
    public TinyCheckpoint(string dir, string configJson, int seed = 7, ExpertLayout layout = ExpertLayout.PerExpert,
        Action<List<(string Name, string DType, long[] Shape, float[] Values)>>? edit = null)
    {
        Directory = dir;
        File.WriteAllText(Path.Combine(dir, "config.json"), configJson);
        Model = HfModelConfig.Parse(configJson, Path.Combine(dir, "config.json"));
        var list = Generate(Model, seed, layout);
        edit?.Invoke(list);
        var w = new SafetensorsTestWriter();
        foreach (var (name, dtype, shape, values) in list)
        {
            w.Add(name, dtype, shape, Encode(dtype, values));
            Values[name] = values;
        }
        w.Write(Path.Combine(dir, "model.safetensors"));
    }

    /// <summary>Every tensor <paramref name="model"/> needs, with seeded random values (bf16-rounded unless kept fp32).</summary>
    public static List<(string Name, string DType, long[] Shape, float[] Values)> Generate(ModelDescription model, int seed, ExpertLayout layout)
    {
        var rng = new Random(seed);
        var list = new List<(string Name, string DType, long[] Shape, float[] Values)>();
        foreach (var t in TensorNames.All(model, layout))
        {
            long count = t.Shape.Aggregate(1L, (a, d) => a * d);
            var v = new float[count];
            bool bias = t.Name.EndsWith("e_score_correction_bias", StringComparison.Ordinal);
            bool norm = t.Shape.Count == 1 || t.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            // Linear weights 1/sqrt(in) keep outputs O(1); norm weights around 1; the bias of the order of the
            // probabilities (1/E) and never zero, so it changes which experts win.
            float scale = norm ? 0.25f : bias ? 1f / t.Shape[^1] : 1.5f / MathF.Sqrt(t.Shape[^1]);
            for (long i = 0; i < count; i++)
            {
                float u = rng.NextSingle() * 2 - 1;
                v[i] = norm ? 1 + scale * u : bias ? scale * (u + 1.1f) : scale * u;
            }
            if (!t.Fp32) for (long i = 0; i < count; i++) v[i] = Bf16.Round(v[i]);
            list.Add((t.Name, t.Fp32 ? "F32" : "BF16", t.Shape.ToArray(), v));
        }
        return list;
    }

    public string Directory { get; }

    public ModelDescription Model { get; }

    public Dictionary<string, float[]> Values { get; } = new(StringComparer.Ordinal);

    /// <summary>The written values by name; an absent name throws as a checkpoint lookup does.</summary>
    public float[] Weight(string name) =>
        Values.TryGetValue(name, out var v) ? v : throw new CheckpointException(Directory, name, "tensor is not in the checkpoint");

    public static byte[] Encode(string dtype, float[] values) => dtype switch
    {
        "F32" => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
        "BF16" => MemoryMarshal.AsBytes(values.Select(Bf16.FromFloat).ToArray().AsSpan()).ToArray(),
        "I32" => MemoryMarshal.AsBytes(values.Select(v => (int)v).ToArray().AsSpan()).ToArray(),
        _ => throw new ArgumentException($"no encoder for {dtype}", nameof(dtype)),
    };

    /// <summary><paramref name="json"/> (one of the configs here) with <paramref name="keys"/> ("\"name\": value, ...") added
    /// before its torch_dtype, the key every config here has.</summary>
    public static string WithKeys(string json, string keys) =>
        json.Replace("\"torch_dtype\"", keys + ", \"torch_dtype\"", StringComparison.Ordinal);

    /// <summary>ERNIE-4.5-MoE: dense layer 0, two MoE layers of 6 experts top-2 with 2 shared experts (FFN 2 x 32).</summary>
    public const string ErnieJson = """
        {
          "architectures": ["Ernie4_5_MoeForCausalLM"], "model_type": "ernie4_5_moe", "hidden_act": "silu",
          "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2,
          "num_hidden_layers": 3, "rms_norm_eps": 1e-05, "vocab_size": 40, "tie_word_embeddings": true, "use_bias": false,
          "moe_num_experts": 6, "moe_num_shared_experts": 2, "moe_layer_start_index": 1, "moe_layer_end_index": 2,
          "moe_layer_interval": 1, "moe_intermediate_size": 32, "moe_k": 2, "moe_norm_min": 1e-12, "torch_dtype": "bfloat16"
        }
        """;

    /// <summary>Qwen3-MoE: two MoE layers of 10 experts top-3, renormalised, q_norm / k_norm over head_dim 16.</summary>
    public const string Qwen3MoeJson = """
        {
          "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_act": "silu", "attention_bias": false,
          "hidden_size": 64, "intermediate_size": 96, "head_dim": 16, "num_attention_heads": 4, "num_key_value_heads": 2,
          "num_hidden_layers": 2, "rms_norm_eps": 1e-06, "vocab_size": 40, "tie_word_embeddings": false,
          "num_experts": 10, "num_experts_per_tok": 3, "moe_intermediate_size": 32, "norm_topk_prob": true,
          "decoder_sparse_step": 1, "mlp_only_layers": [], "torch_dtype": "bfloat16"
        }
        """;

    /// <summary>Llama: dense, GQA 4/2 heads of 12, FFN 80.</summary>
    public const string LlamaJson = """
        {
          "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "attention_bias": false,
          "mlp_bias": false, "hidden_size": 48, "intermediate_size": 80, "num_attention_heads": 4, "num_key_value_heads": 2,
          "num_hidden_layers": 2, "rms_norm_eps": 1e-05, "vocab_size": 40, "tie_word_embeddings": false, "torch_dtype": "bfloat16"
        }
        """;
}
