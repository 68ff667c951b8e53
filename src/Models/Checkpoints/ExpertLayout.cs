namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// How routed-expert weights are named on disk. transformers 5.x holds experts fused in memory
/// (conversion_mapping.py: MergeModulelist + Concatenate for qwen2_moe, reused by qwen3_moe and
/// ernie4_5_moe) and save_pretrained, with its default save_original_format=True, reverts that
/// conversion (core_model_loading.py revert_weight_conversion), so hub checkpoints and default saves are
/// <see cref="PerExpert"/>; save_original_format=False writes the in-memory <see cref="Fused"/> names.
/// </summary>
public enum ExpertLayout
{
    /// <summary>mlp.experts.E.{gate,up,down}_proj.weight, each [ffn, hidden] or [hidden, ffn];
    /// ERNIE's selection bias at mlp.moe_statics.e_score_correction_bias.</summary>
    PerExpert,

    /// <summary>mlp.experts.gate_up_proj [experts, 2 x ffn, hidden] (gate rows first, then up) and
    /// mlp.experts.down_proj [experts, hidden, ffn]; ERNIE's bias at mlp.gate.moe_statics.e_score_correction_bias.</summary>
    Fused,
}
