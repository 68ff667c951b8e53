namespace GraphEngine.Models.Loading;

/// <summary>
/// A MoE block's float64 result: the output [n, hidden], the chosen experts and their weights [n, k], the
/// selection scores [n, experts], and per token whether another implementation's choice differed only among
/// near-equal scores (<see cref="Tied"/>: taken over) or otherwise (<see cref="Mismatched"/>: an error).
/// </summary>
public sealed record MoeResult(double[] Output, int[] Ids, double[] Weights, double[] Scores, bool[] Tied, bool[] Mismatched)
{
    /// <summary>Tokens whose other choice was taken over as a near tie.</summary>
    public int Ties => Tied.Count(t => t);

    /// <summary>Tokens whose other choice was an error.</summary>
    public int Mismatches => Mismatched.Count(t => t);
}
