namespace GraphEngine.Samples.RealModel;

/// <summary>
/// cos and sin of position · inverse frequency for every position a step can have and every rotated pair, made on the
/// host in double and rounded once to fp32, so both backends rotate by the same numbers (transformers computes the
/// angle in fp32; at the positions of a prefill step the two differ by far less than a bf16 rounding).
/// </summary>
public sealed class RotaryTable
{
    /// <summary>The table for positions [0, <paramref name="positions"/>) of heads of <paramref name="headDim"/> with base <paramref name="theta"/>.</summary>
    public RotaryTable(int positions, int headDim, double theta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(positions, 1);
        if (headDim < 2 || headDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "head_dim must be even and >= 2");
        if (!(theta > 0) || !double.IsFinite(theta)) throw new ArgumentOutOfRangeException(nameof(theta), theta, "RoPE theta must be finite and > 0");
        Positions = positions;
        Pairs = headDim / 2;
        Cos = new float[positions * Pairs];
        Sin = new float[positions * Pairs];
        for (int i = 0; i < Pairs; i++)
        {
            double inverseFrequency = Math.Pow(theta, -2.0 * i / headDim);
            for (int p = 0; p < positions; p++)
            {
                double angle = p * inverseFrequency;
                Cos[p * Pairs + i] = (float)Math.Cos(angle);
                Sin[p * Pairs + i] = (float)Math.Sin(angle);
            }
        }
    }

    /// <summary>Rows of the table: the largest position plus one.</summary>
    public int Positions { get; }
    /// <summary>Rotated pairs per head: head_dim / 2.</summary>
    public int Pairs { get; }
    /// <summary>[Positions, Pairs] row-major.</summary>
    public float[] Cos { get; }
    /// <summary>[Positions, Pairs] row-major.</summary>
    public float[] Sin { get; }
}
