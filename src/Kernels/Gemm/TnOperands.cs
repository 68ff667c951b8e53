namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// The operand checks shared by the cuBLASLt "TN" GEMMs whose tensor-core paths need k and n in multiples of
/// a fixed count (fp8, int8): A [m, k] and W [n, k] of one input type, C [m, n] of the output type, rows ≤ m.
/// </summary>
internal static class TnOperands
{
    /// <summary>Throws naming the operand and value that is off; <paramref name="what"/> names the GEMM in messages.</summary>
    public static void Check(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, DType input, DType output, int multiple, string what)
    {
        a.RequireRank(nameof(a), 2).Require(nameof(a), input).RequireDevice(nameof(a), stream.Device);
        long k = a.Dim(1);
        if (k % multiple != 0)
            throw new ArgumentException($"{nameof(a)}: k = {k} must be a multiple of {multiple} for {what}, got {a}", nameof(a));
        w.RequireRank(nameof(w), 2).Require(nameof(w), input).RequireDevice(nameof(w), stream.Device);
        long n = w.Dim(0);
        if (w.Dim(1) != k) throw new ArgumentException($"{nameof(w)} must be [{n}, {k}] to match {a}, got {w}", nameof(w));
        if (n % multiple != 0)
            throw new ArgumentException($"{nameof(w)}: n = {n} must be a multiple of {multiple} for {what}, got {w}", nameof(w));
        c.RequireRank(nameof(c), 2).Require(nameof(c), output).RequireDevice(nameof(c), stream.Device);
        if (c.Dim(1) != n) throw new ArgumentException($"{nameof(c)} must have {n} columns, got {c}", nameof(c));
        if (rows < 0 || rows > a.Rows || rows > c.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({a.Rows}, {c.Rows})]");
    }
}
