using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Checkpoints;

public class TensorNamesTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Dictionary<string, long[]> Map(IEnumerable<ExpectedTensor> list) =>
        list.ToDictionary(t => t.Name, t => t.Shape.ToArray());

    [Fact]
    public void Ernie_dense_first_layer_and_tied_head()
    {
        var m = KnownConfigs.Ernie45_21B_A3B;
        var global = Map(TensorNames.Global(m));
        Assert.Equal(new long[] { 103424, 2560 }, global["model.embed_tokens.weight"]);
        Assert.Equal(new long[] { 2560 }, global["model.norm.weight"]);
        Assert.False(global.ContainsKey("lm_head.weight")); // tie_word_embeddings

        var l0 = Map(TensorNames.ForLayer(m, 0));
        Assert.Equal(9, l0.Count);
        Assert.Equal(new long[] { 2560 }, l0["model.layers.0.input_layernorm.weight"]);
        Assert.Equal(new long[] { 2560 }, l0["model.layers.0.post_attention_layernorm.weight"]);
        Assert.Equal(new long[] { 2560, 2560 }, l0["model.layers.0.self_attn.q_proj.weight"]);
        Assert.Equal(new long[] { 512, 2560 }, l0["model.layers.0.self_attn.k_proj.weight"]);
        Assert.Equal(new long[] { 512, 2560 }, l0["model.layers.0.self_attn.v_proj.weight"]);
        Assert.Equal(new long[] { 2560, 2560 }, l0["model.layers.0.self_attn.o_proj.weight"]);
        Assert.Equal(new long[] { 12288, 2560 }, l0["model.layers.0.mlp.gate_proj.weight"]);
        Assert.Equal(new long[] { 12288, 2560 }, l0["model.layers.0.mlp.up_proj.weight"]);
        Assert.Equal(new long[] { 2560, 12288 }, l0["model.layers.0.mlp.down_proj.weight"]);
    }

    [Fact]
    public void Ernie_moe_layer_per_expert_and_fused()
    {
        var m = KnownConfigs.Ernie45_21B_A3B;
        var list = TensorNames.ForLayer(m, 5);
        var l5 = Map(list);
        // 2 norms + 4 projections + router + selection bias + 64 experts x 3 + shared gate/up/down
        Assert.Equal(2 + 4 + 1 + 1 + 64 * 3 + 3, l5.Count);
        Assert.Equal(new long[] { 64, 2560 }, l5["model.layers.5.mlp.gate.weight"]);
        Assert.Equal(new long[] { 1, 64 }, l5["model.layers.5.mlp.moe_statics.e_score_correction_bias"]);
        Assert.True(list.Single(t => t.Name == "model.layers.5.mlp.gate.weight").Fp32);
        Assert.Equal(new long[] { 1536, 2560 }, l5["model.layers.5.mlp.experts.0.gate_proj.weight"]);
        Assert.Equal(new long[] { 1536, 2560 }, l5["model.layers.5.mlp.experts.63.up_proj.weight"]);
        Assert.Equal(new long[] { 2560, 1536 }, l5["model.layers.5.mlp.experts.63.down_proj.weight"]);
        Assert.Equal(new long[] { 3072, 2560 }, l5["model.layers.5.mlp.shared_experts.gate_proj.weight"]);
        Assert.Equal(new long[] { 2560, 3072 }, l5["model.layers.5.mlp.shared_experts.down_proj.weight"]);
        Assert.False(l5.ContainsKey("model.layers.5.mlp.experts.64.gate_proj.weight"));

        var fused = Map(TensorNames.ForLayer(m, 5, ExpertLayout.Fused));
        Assert.Equal(2 + 4 + 1 + 1 + 2 + 3, fused.Count);
        Assert.Equal(new long[] { 64, 3072, 2560 }, fused["model.layers.5.mlp.experts.gate_up_proj"]);
        Assert.Equal(new long[] { 64, 2560, 1536 }, fused["model.layers.5.mlp.experts.down_proj"]);
        Assert.Equal(new long[] { 1, 64 }, fused["model.layers.5.mlp.gate.moe_statics.e_score_correction_bias"]);
    }

    [Fact]
    public void Qwen3_moe_layer_has_qk_norm_and_no_shared_experts()
    {
        var m = KnownConfigs.Qwen3_30B_A3B;
        var l = Map(TensorNames.ForLayer(m, 47));
        Assert.Equal(2 + 4 + 2 + 1 + 128 * 3, l.Count);
        Assert.Equal(new long[] { 4096, 2048 }, l["model.layers.47.self_attn.q_proj.weight"]);
        Assert.Equal(new long[] { 512, 2048 }, l["model.layers.47.self_attn.k_proj.weight"]);
        Assert.Equal(new long[] { 2048, 4096 }, l["model.layers.47.self_attn.o_proj.weight"]);
        Assert.Equal(new long[] { 128 }, l["model.layers.47.self_attn.q_norm.weight"]);
        Assert.Equal(new long[] { 128 }, l["model.layers.47.self_attn.k_norm.weight"]);
        Assert.Equal(new long[] { 128, 2048 }, l["model.layers.47.mlp.gate.weight"]);
        Assert.Equal(new long[] { 768, 2048 }, l["model.layers.47.mlp.experts.127.gate_proj.weight"]);
        Assert.DoesNotContain(l.Keys, k => k.Contains("shared_expert") || k.Contains("e_score_correction_bias"));

        var fused = Map(TensorNames.ForLayer(m, 0, ExpertLayout.Fused));
        Assert.Equal(new long[] { 128, 1536, 2048 }, fused["model.layers.0.mlp.experts.gate_up_proj"]);
        Assert.Equal(new long[] { 128, 2048, 768 }, fused["model.layers.0.mlp.experts.down_proj"]);
        Assert.Equal(new long[] { 151936, 2048 }, Map(TensorNames.Global(m))["lm_head.weight"]);
    }

    [Fact]
    public void Llama_and_qwen2_names()
    {
        var llama = KnownConfigs.Llama3_8B;
        Assert.Equal(3 + 32 * 9, TensorNames.All(llama).Count);
        var l31 = Map(TensorNames.ForLayer(llama, 31));
        Assert.Equal(new long[] { 1024, 4096 }, l31["model.layers.31.self_attn.v_proj.weight"]);
        Assert.Equal(new long[] { 14336, 4096 }, l31["model.layers.31.mlp.up_proj.weight"]);
        Assert.Equal(new long[] { 128256, 4096 }, Map(TensorNames.Global(llama))["lm_head.weight"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorNames.ForLayer(llama, 32));

        var qwen2 = HfModelConfig.Parse("""
            {"model_type": "qwen2", "hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 6,
             "num_key_value_heads": 2, "vocab_size": 50, "intermediate_size": 40, "tie_word_embeddings": true}
            """, "q2.json");
        var q = Map(TensorNames.ForLayer(qwen2, 1));
        Assert.Equal(new long[] { 96 }, q["model.layers.1.self_attn.q_proj.bias"]);
        Assert.Equal(new long[] { 32 }, q["model.layers.1.self_attn.k_proj.bias"]);
        Assert.Equal(new long[] { 32 }, q["model.layers.1.self_attn.v_proj.bias"]);
        Assert.False(q.ContainsKey("model.layers.1.self_attn.o_proj.bias"));
        Assert.DoesNotContain(TensorNames.Global(qwen2), t => t.Name == TensorNames.LmHead);
    }

    [Fact]
    public void Layout_detection()
    {
        var m = KnownConfigs.Qwen3_30B_A3B;
        Assert.Equal(ExpertLayout.Fused, TensorNames.DetectLayout(m, n => n == "model.layers.0.mlp.experts.gate_up_proj", "x"));
        Assert.Equal(ExpertLayout.PerExpert,
            TensorNames.DetectLayout(m, n => n == "model.layers.0.mlp.experts.0.gate_proj.weight", "x"));
        var e = Assert.Throws<CheckpointException>(() => TensorNames.DetectLayout(m, _ => false, "/ckpt"));
        Assert.Equal("/ckpt: 'model.layers.0.mlp.experts.0.gate_proj.weight': neither this nor "
                     + "model.layers.0.mlp.experts.gate_up_proj is in the checkpoint; layer 0 is MoE", e.Message);
        // ERNIE's first MoE layer is 1; layer 0 is dense.
        Assert.Equal(ExpertLayout.Fused,
            TensorNames.DetectLayout(KnownConfigs.Ernie45_21B_A3B, n => n == "model.layers.1.mlp.experts.gate_up_proj", "x"));
        Assert.Equal(ExpertLayout.PerExpert, TensorNames.DetectLayout(KnownConfigs.Llama3_8B, _ => false, "x"));
    }

    private const string TinyErnie = """
        {"model_type": "ernie4_5_moe", "hidden_size": 8, "num_hidden_layers": 3, "num_attention_heads": 2,
         "num_key_value_heads": 1, "head_dim": 4, "vocab_size": 11, "intermediate_size": 12, "moe_num_experts": 3,
         "moe_k": 2, "moe_intermediate_size": 4, "moe_num_shared_experts": 1, "moe_layer_start_index": 1,
         "tie_word_embeddings": false}
        """;

    [Theory]
    [InlineData(ExpertLayout.PerExpert)]
    [InlineData(ExpertLayout.Fused)]
    public void A_checkpoint_written_from_the_names_loads_completely(ExpertLayout layout)
    {
        File.WriteAllText(_dir.File("config.json"), TinyErnie);
        var m = HfModelConfig.Parse(TinyErnie, _dir.File("config.json"));
        var w = new SafetensorsTestWriter();
        var written = new Dictionary<string, byte[]>();
        foreach (var t in TensorNames.All(m, layout))
            written[t.Name] = w.AddRandom(t.Name, t.Fp32 ? "F32" : "BF16", t.Shape.ToArray());
        w.AddRandom("model.layers.0.mlp.unexpected.weight", "BF16", 2);
        w.Write(_dir.File("model.safetensors"));

        using var ckpt = CheckpointDirectory.Open(_dir.Path);
        var d = ckpt.Describe();
        Assert.Equal(new[] { 1, 2 }, d.MoeLayerIndices);
        Assert.Equal(layout, TensorNames.DetectLayout(d, ckpt));
        foreach (var t in TensorNames.All(d, layout))
        {
            var got = ckpt.Require(t, t.Fp32 ? SafetensorsDType.F32 : SafetensorsDType.BF16);
            Assert.True(got.Bytes.SequenceEqual(written[t.Name]), t.Name);
        }
        Assert.Equal(new[] { "model.layers.0.mlp.unexpected.weight" }, ckpt.Unconsumed());
    }
}
