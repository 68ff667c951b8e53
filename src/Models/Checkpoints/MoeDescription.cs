namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// The routed-expert block of a MoE decoder layer. <see cref="SharedExperts"/> is ERNIE's count of shared
/// experts, which transformers holds as one SwiGLU MLP of width <see cref="SharedExpertFfn"/>
/// (moe_intermediate_size x count); 0 for models without them.
/// </summary>
public sealed record MoeDescription(
    int Experts,
    int TopK,
    int ExpertFfn,
    int SharedExperts,
    int SharedExpertFfn,
    MoeRouting Routing,
    bool RouterFp32,
    bool SelectionBias,
    bool NormTopKProb,
    double NormMin);
