namespace GraphEngine.Models.Loading;

/// <summary>
/// One comparison of a loaded model's sublayer against an oracle at <see cref="Tokens"/> rows: the relative
/// Frobenius error and its tolerance, and for a MoE block the tokens whose experts differ (<see cref="Mismatches"/>
/// fail the row; <see cref="Ties"/> differ only among near-equal scores and are left out of the error).
/// </summary>
public sealed record CheckRow(int DecoderLayer, string Sublayer, int Tokens, double RelativeError, double Tolerance,
    int Mismatches = 0, int Ties = 0, string? Problem = null)
{
    /// <summary>True when no problem, no expert mismatch and the error is within tolerance.</summary>
    public bool Passed => Problem is null && Mismatches == 0 && RelativeError <= Tolerance;

    /// <summary>pass/FAIL, the sublayer, the error and tolerance (and expert counts for an MLP), on one line.</summary>
    public override string ToString() =>
        FormattableString.Invariant(
            $"{(Passed ? "pass" : "FAIL")} layers.{DecoderLayer}.{Sublayer} n={Tokens}: rel err {RelativeError:E2} (tol {Tolerance:G2})")
        + (Sublayer == "mlp" || Mismatches > 0 || Ties > 0 ? $", expert mismatches {Mismatches}, near-tie swaps {Ties}" : "")
        + (Problem is null ? "" : $", {Problem}");
}
