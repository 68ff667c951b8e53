namespace GraphEngine.Samples.RealModel;

/// <summary>
/// What one MoE layer's router did in a forward of n tokens: the experts it chose per token ([n, k], as the engine's
/// top-k kernel wrote them) and the selection score of every expert ([n, E]: softmax of the router logits, plus
/// ERNIE's e_score_correction_bias), which says how close a choice was.
/// </summary>
public sealed record RouterChoice(int DecoderLayer, int TopK, int Experts, int[] Chosen, double[] Scores);
