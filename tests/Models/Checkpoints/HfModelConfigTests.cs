using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Checkpoints;

public class HfModelConfigTests
{
    private const string Path = "/ckpt/Tiny-MoE/config.json";

    /// <summary>The architecture, (hidden, layers, heads, kv heads, head dim), norm epsilon and vocabulary of <paramref name="m"/>.</summary>
    private static void AssertArchitecture(ModelDescription m, ModelArchitecture architecture,
        (int Hidden, int Layers, int Heads, int KvHeads, int HeadDim) dims, double rmsNormEps, int vocab)
    {
        Assert.Equal(architecture, m.Architecture);
        Assert.Equal(dims, (m.Hidden, m.Layers, m.Heads, m.KvHeads, m.HeadDim));
        Assert.Equal(rmsNormEps, m.RmsNormEps);
        Assert.Equal(vocab, m.Vocab);
    }

    [Fact]
    public void Ernie_21B_A3B()
    {
        var m = KnownConfigs.Ernie45_21B_A3B;
        Assert.Equal("ernie45-21b-a3b", m.Name);
        AssertArchitecture(m, ModelArchitecture.Ernie45Moe, (2560, 28, 20, 4, 128), 1e-5, 103424);
        Assert.Equal(12288, m.Intermediate);
        Assert.True(m.TieWordEmbeddings);
        Assert.False(m.QkvBias || m.OutputBias || m.MlpBias || m.LmHeadBias || m.QkNorm);

        Assert.False(m.DecoderLayers[0].IsMoe);
        Assert.Equal(12288, m.DecoderLayers[0].DenseFfn);
        Assert.Equal(Enumerable.Range(1, 27), m.MoeLayerIndices);
        var moe = m.DecoderLayers[27].Moe!;
        Assert.Equal((64, 6, 1536, 2, 3072), (moe.Experts, moe.TopK, moe.ExpertFfn, moe.SharedExperts, moe.SharedExpertFfn));
        Assert.Equal(MoeRouting.ErnieBiasedSoftmax, moe.Routing);
        Assert.True(moe.RouterFp32 && moe.SelectionBias && moe.NormTopKProb);
        Assert.Equal(1e-12, moe.NormMin);
    }

    [Fact]
    public void Qwen3_30B_A3B()
    {
        var m = KnownConfigs.Qwen3_30B_A3B;
        AssertArchitecture(m, ModelArchitecture.Qwen3Moe, (2048, 48, 32, 4, 128), 1e-6, 151936);
        Assert.Equal(4096, m.QOut); // head_dim is explicit: 2048 / 32 would be 64
        Assert.False(m.TieWordEmbeddings);
        Assert.True(m.QkNorm);
        Assert.False(m.QkvBias);
        Assert.Equal(48, m.MoeLayerIndices.Count);
        var moe = m.Moe!;
        Assert.Equal((128, 8, 768, 0), (moe.Experts, moe.TopK, moe.ExpertFfn, moe.SharedExperts));
        Assert.Equal(MoeRouting.SoftmaxTopK, moe.Routing);
        Assert.True(moe.NormTopKProb);
        Assert.False(moe.RouterFp32 || moe.SelectionBias);
    }

    [Fact]
    public void Llama3_8B()
    {
        var m = KnownConfigs.Llama3_8B;
        AssertArchitecture(m, ModelArchitecture.Llama, (4096, 32, 32, 8, 128), 1e-5, 128256);
        Assert.Equal(14336, m.Intermediate);
        Assert.False(m.IsMoe);
        Assert.Null(m.Moe);
        Assert.All(m.DecoderLayers, l => Assert.Equal(14336, l.DenseFfn));
        Assert.Equal(3, KnownConfigs.All.Count);
    }

    private static string Ernie(string extra) => $$"""
        {"model_type": "ernie4_5_moe", "hidden_size": 64, "num_hidden_layers": 10, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 100, "intermediate_size": 96, "moe_num_experts": 8, "moe_k": 2,
         "moe_intermediate_size": 32 {{extra}} }
        """;

    private static string Qwen3Moe(string extra) => $$"""
        {"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 8, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 100, "intermediate_size": 96, "num_experts": 16,
         "num_experts_per_tok": 4, "moe_intermediate_size": 24 {{extra}} }
        """;

    [Fact]
    public void Ernie_start_interval_and_end_pick_the_moe_layers()
    {
        const string keys = """, "moe_layer_start_index": 1, "moe_layer_interval": 2, "moe_layer_end_index": 6""";
        var m = HfModelConfig.Parse(Ernie(keys + """, "moe_norm_min": 1e-6, "moe_num_shared_experts": 1"""), Path);
        // (i + 1) % 2 == 0 and 1 <= i <= 6: layer 7 passes the interval but lies past the end index.
        Assert.Equal(new[] { 1, 3, 5 }, m.MoeLayerIndices);
        Assert.All(new[] { 0, 2, 4, 6, 7, 8, 9 }, i => Assert.Equal(96, m.DecoderLayers[i].DenseFfn));
        Assert.Equal(1e-6, m.Moe!.NormMin);
        Assert.Equal(32, m.Moe.SharedExpertFfn);
        Assert.Equal("Tiny-MoE", m.Name);
    }

    [Theory]
    [InlineData(""", "moe_layer_end_index": -1""")]
    [InlineData("")]
    public void Ernie_end_index_minus_one_or_absent_means_the_last_layer(string extra)
    {
        var m = HfModelConfig.Parse(Ernie(extra + """, "moe_layer_start_index": 2, "moe_layer_interval": 3"""), Path);
        Assert.Equal(new[] { 2, 5, 8 }, m.MoeLayerIndices);
        Assert.Equal(1e-12, m.Moe!.NormMin);
        Assert.Equal((2, 64), (m.Moe.SharedExperts, m.Moe.SharedExpertFfn)); // Ernie4_5_MoeConfig's default of 2
    }

    [Fact]
    public void Qwen3_sparse_step_and_mlp_only_layers()
    {
        var m = HfModelConfig.Parse(Qwen3Moe(""", "decoder_sparse_step": 2, "mlp_only_layers": [3, 6]"""), Path);
        // (i + 1) % 2 == 0 gives 1, 3, 5, 7; mlp_only_layers removes 3 (and 6, which was dense anyway).
        Assert.Equal(new[] { 1, 5, 7 }, m.MoeLayerIndices);
        Assert.Equal(96, m.DecoderLayers[3].DenseFfn);
        Assert.Equal(16, m.HeadDim);
        Assert.False(m.Moe!.NormTopKProb); // Qwen3MoeConfig's default
        Assert.Equal(1e-6, m.RmsNormEps);
    }

    [Fact]
    public void Qwen3_moe_reads_num_local_experts_when_num_experts_is_absent()
    {
        var m = HfModelConfig.Parse(Qwen3Moe("").Replace("\"num_experts\": 16", "\"num_local_experts\": 12"), Path);
        Assert.Equal(12, m.Moe!.Experts);
        Assert.Equal(4, m.Moe.TopK);
    }

    [Fact]
    public void Qwen3_moe_with_no_experts_is_dense()
    {
        var m = HfModelConfig.Parse(Qwen3Moe("").Replace("\"num_experts\": 16", "\"num_experts\": 0"), Path);
        Assert.False(m.IsMoe);
        Assert.All(m.DecoderLayers, l => Assert.Equal(96, l.DenseFfn));
    }

    [Fact]
    public void Dense_family_defaults_and_biases()
    {
        const string body = """
            "hidden_size": 96, "num_hidden_layers": 3, "num_attention_heads": 6, "vocab_size": 50, "intermediate_size": 40
            """;
        var qwen2 = HfModelConfig.Parse("{\"model_type\": \"qwen2\", " + body + "}", "qwen2.json");
        Assert.True(qwen2.QkvBias);
        Assert.False(qwen2.OutputBias);
        Assert.Equal((6, 16), (qwen2.KvHeads, qwen2.HeadDim));
        Assert.Equal("qwen2", qwen2.Name);

        var qwen3 = HfModelConfig.Parse("{\"model_type\": \"qwen3\", " + body + "}", "qwen3.json");
        Assert.Equal(128, qwen3.HeadDim); // Qwen3Config declares head_dim = 128
        Assert.True(qwen3.QkNorm);

        const string biases = "\"attention_bias\": true, \"mlp_bias\": true, ";
        var llama = HfModelConfig.Parse("{\"model_type\": \"llama\", " + biases + body + "}", "l.json");
        Assert.True(llama.QkvBias && llama.OutputBias && llama.MlpBias);
        Assert.False(llama.TieWordEmbeddings);
        Assert.Equal(16, llama.HeadDim);
    }

    private static CheckpointException Refused(string json, string key)
    {
        var e = Assert.Throws<CheckpointException>(() => HfModelConfig.Parse(json, Path));
        Assert.StartsWith($"{Path}: ", e.Message);
        Assert.Equal(key, e.Subject);
        Assert.Contains($"'{key}'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void Unknown_model_type()
    {
        var e = Refused("""{"model_type": "deepseek_v3", "hidden_size": 8}""", "model_type");
        Assert.Contains("unknown model_type 'deepseek_v3' (known: ernie4_5_moe, qwen3_moe, llama, qwen2, qwen3)", e.Message);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("moe_num_experts")]
    [InlineData("moe_k")]
    [InlineData("moe_intermediate_size")]
    [InlineData("intermediate_size")]
    public void Missing_required_key(string key)
    {
        string json = Ernie("").Replace($"\"{key}\":", "\"renamed_away\":");
        var e = Refused(json, key);
        Assert.EndsWith("required key is missing", e.Message);
    }

    [Fact]
    public void Intermediate_size_is_optional_when_every_layer_is_moe()
    {
        var m = HfModelConfig.Parse(Qwen3Moe("").Replace("\"intermediate_size\": 96,", ""), Path);
        Assert.Equal(0, m.Intermediate);
        Assert.Equal(8, m.MoeLayerIndices.Count);
    }

    [Fact]
    public void Top_k_above_the_expert_count()
    {
        var e = Refused(Ernie("").Replace("\"moe_k\": 2", "\"moe_k\": 9"), "moe_k");
        Assert.Contains("9 exceeds moe_num_experts 8", e.Message);
        e = Refused(Qwen3Moe("").Replace("\"num_experts_per_tok\": 4", "\"num_experts_per_tok\": 17"), "num_experts_per_tok");
        Assert.Contains("17 exceeds num_experts 16", e.Message);
    }

    [Fact]
    public void Heads_must_divide_hidden_when_head_dim_is_absent()
    {
        string json = Qwen3Moe("").Replace("\"hidden_size\": 64", "\"hidden_size\": 66");
        var e = Refused(json, "num_attention_heads");
        Assert.Contains("4 does not divide hidden_size 66 and head_dim is absent", e.Message);
        var ok = HfModelConfig.Parse(Qwen3Moe(", \"head_dim\": 32").Replace("\"hidden_size\": 64", "\"hidden_size\": 66"), Path);
        Assert.Equal(128, ok.QOut);
    }

    // Ernie: a value of the wrong JSON type; Qwen3-MoE: values that contradict each other or are unsupported.
    [Theory]
    [InlineData("ernie", "\"hidden_size\": 64", "\"hidden_size\": {\"value\": 64}", "hidden_size", "must be an integer, got object")]
    [InlineData("ernie", "\"num_attention_heads\": 4", "\"num_attention_heads\": \"4\"", "num_attention_heads", "must be an integer, got string")]
    [InlineData("ernie", "\"moe_num_experts\": 8", "\"moe_num_experts\": [8, 8]", "moe_num_experts", "must be an integer, got array")]
    [InlineData("ernie", "\"moe_k\": 2", "\"moe_k\": 2.5", "moe_k", "must be a 32-bit integer, got number 2.5")]
    [InlineData("ernie", "\"vocab_size\": 100", "\"vocab_size\": 100, \"use_bias\": 1", "use_bias", "must be true or false, got number 1")]
    [InlineData("ernie", "\"vocab_size\": 100", "\"vocab_size\": 100, \"rms_norm_eps\": \"1e-5\"", "rms_norm_eps", "must be a finite number")]
    [InlineData("qwen3_moe", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "num_key_value_heads",
        "3 does not divide num_attention_heads 4")]
    [InlineData("qwen3_moe", "\"hidden_size\": 64", "\"hidden_size\": 0", "hidden_size", "must be positive, got 0")]
    [InlineData("qwen3_moe", "\"vocab_size\": 100", "\"vocab_size\": 100, \"decoder_sparse_step\": 0", "decoder_sparse_step", "must be >= 1, got 0")]
    [InlineData("qwen3_moe", "\"vocab_size\": 100", "\"vocab_size\": 100, \"mlp_only_layers\": [2, 8]", "mlp_only_layers",
        "names layer 8, outside [0, 8)")]
    [InlineData("qwen3_moe", "\"vocab_size\": 100", "\"vocab_size\": 100, \"hidden_act\": \"gelu\"", "hidden_act", "only silu (SwiGLU)")]
    [InlineData("qwen3_moe", "\"vocab_size\": 100", "\"vocab_size\": 100, \"mlp_only_layers\": [\"x\"]", "mlp_only_layers[0]", "must be an integer")]
    public void Bad_value_is_refused_naming_the_key_and_the_problem(string model, string from, string to, string key, string problem)
    {
        var e = Refused((model == "ernie" ? Ernie("") : Qwen3Moe("")).Replace(from, to), key);
        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData("\"moe_layer_interval\": 0", "moe_layer_interval")]
    [InlineData("\"moe_layer_end_index\": -2", "moe_layer_end_index")]
    [InlineData("\"moe_layer_start_index\": -1", "moe_layer_start_index")]
    [InlineData("\"moe_num_shared_experts\": -1", "moe_num_shared_experts")]
    public void Ernie_layer_keys_out_of_range(string setting, string key) =>
        Refused(Ernie(", " + setting), key);

    [Fact]
    public void Not_json_or_not_an_object()
    {
        var e = Assert.Throws<CheckpointException>(() => HfModelConfig.Parse("{\"model_type\": ", Path));
        Assert.StartsWith($"{Path}: is not valid JSON", e.Message);
        e = Assert.Throws<CheckpointException>(() => HfModelConfig.Parse("[1]", Path));
        Assert.Equal($"{Path}: must be a JSON object, got Array", e.Message);
        Refused("{\"hidden_size\": 8}", "model_type");
    }
}
