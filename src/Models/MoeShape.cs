namespace GraphEngine.Models;

/// <summary>The routed-expert block of a decoder layer, as the benchmark's estimates need it.</summary>
public sealed record MoeShape(int Experts, int TopK, int ExpertFfn);
