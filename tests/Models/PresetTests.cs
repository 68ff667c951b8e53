using GraphEngine.Models;

namespace GraphEngine.Tests.Models;

public class PresetTests
{
    [Fact]
    public void Llama3_8b_plan_has_the_issue_shapes()
    {
        var plan = ModelPresets.Llama3_8B.Plan();
        Assert.Equal(32 * 7, plan.Count);
        Assert.Contains(plan, s => s.Name == "layers.0.self_attn.qkv_proj" && s.In == 4096 && s.Out == 6144);
        Assert.Contains(plan, s => s.Name == "layers.0.self_attn.o_proj" && s.In == 4096 && s.Out == 4096);
        Assert.Contains(plan, s => s.Name == "layers.0.mlp.gate_up_proj" && s.In == 4096 && s.Out == 28672 && s.SwiGluOut == 14336);
        Assert.Contains(plan, s => s.Name == "layers.31.mlp.down_proj" && s.In == 14336 && s.Out == 4096);
    }

    [Fact]
    public void Ernie_plan_is_norm_qkv_o_norm_moe_per_layer()
    {
        var p = ModelPresets.Ernie45_21B_A3B;
        var plan = p.Plan();
        // Layer 0 is a dense FFN (moe_layer_start_index 1), the other 27 are MoE.
        Assert.Equal(7 + 27 * 5, plan.Count);
        Assert.Contains(plan, s => s.Name == "layers.0.mlp.gate_up_proj" && s.Out == 2 * 12288);
        Assert.Equal(new[] { LayerSpecKind.RmsNorm, LayerSpecKind.Linear, LayerSpecKind.Linear, LayerSpecKind.RmsNorm, LayerSpecKind.Moe },
            plan.Skip(7).Take(5).Select(s => s.Kind));
        Assert.True(plan[3].FusedResidual);
        Assert.Equal((2, 3072), (p.Model.Moe!.SharedExperts, p.Model.Moe.SharedExpertFfn));
        Assert.Equal((64, 6, 1536), (p.Moe!.Experts, p.Moe.TopK, p.Moe.ExpertFfn));
        Assert.Equal(2560, p.Hidden);
    }

    [Fact]
    public void Expected_experts_hit_matches_the_issue_estimate()
    {
        // Issue 5: "at n = 16 about 50 of the 64 experts are hit" (top-6 of 64).
        var moe = ModelPresets.Ernie45_21B_A3B.Moe!;
        Assert.InRange(LayerPlan.ExpectedExpertsHit(moe, 16), 48, 53);
        Assert.InRange(LayerPlan.ExpectedExpertsHit(moe, 1), 5.99, 6.01);
        Assert.InRange(LayerPlan.ExpectedExpertsHit(moe, 2048), 63.99, 64);
    }

    [Fact]
    public void Unknown_preset_names_the_value_and_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelPresets.Get("gpt2", "--preset"));
        Assert.Contains("'gpt2'", e.Message);
        Assert.Contains("ernie45-21b-a3b", e.Message);
    }

    [Fact]
    public void Weight_bytes_match_the_published_model_sizes()
    {
        // ERNIE-4.5-21B-A3B: about 21e9 parameters without embeddings/attention kernels; Llama-3-8B: about 7e9 in the decoder stack.
        Assert.InRange(ModelPresets.Ernie45_21B_A3B.Bf16WeightBytes / 2.0, 19e9, 22e9);
        Assert.InRange(ModelPresets.Llama3_8B.Bf16WeightBytes / 2.0, 6.5e9, 7.2e9);
        Assert.InRange(ModelPresets.Tiny.Bf16WeightBytes, 1, 64L << 20);
    }

    [Fact]
    public void Presets_are_the_published_descriptions()
    {
        Assert.Same(GraphEngine.Models.Checkpoints.KnownConfigs.Qwen3_30B_A3B, ModelPresets.Qwen3_30B_A3B.Model);
        Assert.Equal(48 * 5, ModelPresets.Qwen3_30B_A3B.Plan().Count);
        Assert.Equal(1e-5, ModelPresets.Ernie45_21B_A3B.Model.RmsNormEps);
        var tiny = ModelPresets.Tiny.Model;
        Assert.False(tiny.DecoderLayers[0].IsMoe);
        Assert.True(tiny.Moe!.SharedExperts > 0 && tiny.Moe.SelectionBias && tiny.Moe.RouterFp32);
    }
}
