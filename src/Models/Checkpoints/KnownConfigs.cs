namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// config.json of the models the engine ships presets for, as published with their weights, parsed by
/// the same <see cref="HfModelConfig"/> a checkpoint goes through, so a preset and a downloaded
/// checkpoint cannot disagree about a shape.
/// </summary>
public static class KnownConfigs
{
    /// <summary>baidu/ERNIE-4.5-21B-A3B-PT.</summary>
    public const string Ernie45_21B_A3B_Json = """
        {
          "architectures": ["Ernie4_5_MoeForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": 2560,
          "intermediate_size": 12288,
          "max_position_embeddings": 131072,
          "model_type": "ernie4_5_moe",
          "num_attention_heads": 20,
          "num_key_value_heads": 4,
          "num_hidden_layers": 28,
          "pad_token_id": 0,
          "rms_norm_eps": 1e-05,
          "use_cache": false,
          "vocab_size": 103424,
          "rope_theta": 500000,
          "use_bias": false,
          "moe_num_experts": 64,
          "moe_num_shared_experts": 2,
          "moe_layer_start_index": 1,
          "moe_layer_interval": 1,
          "moe_intermediate_size": 1536,
          "moe_k": 6,
          "moe_use_aux_free": true,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16"
        }
        """;

    /// <summary>Qwen/Qwen3-30B-A3B.</summary>
    public const string Qwen3_30B_A3B_Json = """
        {
          "architectures": ["Qwen3MoeForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "decoder_sparse_step": 1,
          "eos_token_id": 151645,
          "head_dim": 128,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 6144,
          "max_position_embeddings": 40960,
          "max_window_layers": 48,
          "mlp_only_layers": [],
          "model_type": "qwen3_moe",
          "moe_intermediate_size": 768,
          "norm_topk_prob": true,
          "num_attention_heads": 32,
          "num_experts": 128,
          "num_experts_per_tok": 8,
          "num_hidden_layers": 48,
          "num_key_value_heads": 4,
          "output_router_logits": false,
          "rms_norm_eps": 1e-06,
          "rope_scaling": null,
          "rope_theta": 1000000.0,
          "router_aux_loss_coef": 0.001,
          "sliding_window": null,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    /// <summary>meta-llama/Meta-Llama-3-8B.</summary>
    public const string Llama3_8B_Json = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": 128001,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 8192,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": null,
          "rope_theta": 500000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    private const string Source = "KnownConfigs";

    /// <summary>ERNIE-4.5-21B-A3B, from its published config.json.</summary>
    public static ModelDescription Ernie45_21B_A3B { get; } =
        HfModelConfig.Parse(Ernie45_21B_A3B_Json, $"{Source}/ernie45-21b-a3b/config.json", "ernie45-21b-a3b");

    /// <summary>Qwen3-30B-A3B, from its published config.json.</summary>
    public static ModelDescription Qwen3_30B_A3B { get; } =
        HfModelConfig.Parse(Qwen3_30B_A3B_Json, $"{Source}/qwen3-30b-a3b/config.json", "qwen3-30b-a3b");

    /// <summary>Llama-3-8B, from its published config.json.</summary>
    public static ModelDescription Llama3_8B { get; } =
        HfModelConfig.Parse(Llama3_8B_Json, $"{Source}/llama3-8b/config.json", "llama3-8b");

    /// <summary>Every known configuration.</summary>
    public static IReadOnlyList<ModelDescription> All { get; } = new[] { Ernie45_21B_A3B, Qwen3_30B_A3B, Llama3_8B };
}
