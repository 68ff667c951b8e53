namespace GraphEngine.Models.Checkpoints;

/// <summary>The config.json model_type values this engine can describe.</summary>
public enum ModelArchitecture
{
    /// <summary>model_type "ernie4_5_moe".</summary>
    Ernie45Moe,

    /// <summary>model_type "qwen3_moe".</summary>
    Qwen3Moe,

    /// <summary>model_type "llama".</summary>
    Llama,

    /// <summary>model_type "qwen2".</summary>
    Qwen2,

    /// <summary>model_type "qwen3".</summary>
    Qwen3,
}
