namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Int8 GEMM on the integer tensor cores: C[m, n] (int32) = A[m, k] · W[n, k]ᵀ with int8 operands and
/// exact int32 accumulation. On CUDA this is cuBLASLt's IMMA path (TN layout, compute type 32I). It is the
/// measure of the int8 matrix rate that floors of int8-MMA kernels are computed from, and the exact
/// product that W8A8 layers rescale. No scales here: integer results are exact, so tests compare bits.
/// </summary>
public abstract class Int8Gemm : IDisposable
{
    /// <summary>cuBLASLt's int8 kernels need leading dimensions that are multiples of 4 bytes; 16 keeps every IMMA tile legal.</summary>
    public const int DimensionMultiple = 16;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Int8Gemm Create(Device device) =>
        KernelBackend.Create<Int8Gemm>(device, cuda => new Int8GemmCuda(cuda), () => new Int8GemmReference());

    /// <summary>Multiplies rows [0, <paramref name="rows"/>) of <paramref name="a"/>; rows is a host-known bound.</summary>
    public void MatMul(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows)
    {
        ArgumentNullException.ThrowIfNull(stream);
        a.RequireRank(nameof(a), 2).Require(nameof(a), DType.I8).RequireDevice(nameof(a), stream.Device);
        long k = a.Dim(1);
        if (k % DimensionMultiple != 0)
            throw new ArgumentException($"{nameof(a)}: k = {k} must be a multiple of {DimensionMultiple} for int8 GEMM, got {a}", nameof(a));
        w.RequireRank(nameof(w), 2).Require(nameof(w), DType.I8).RequireDevice(nameof(w), stream.Device);
        long n = w.Dim(0);
        if (w.Dim(1) != k) throw new ArgumentException($"{nameof(w)} must be [{n}, {k}] to match {a}, got {w}", nameof(w));
        if (n % DimensionMultiple != 0)
            throw new ArgumentException($"{nameof(w)}: n = {n} must be a multiple of {DimensionMultiple} for int8 GEMM, got {w}", nameof(w));
        c.RequireRank(nameof(c), 2).Require(nameof(c), DType.I32).RequireDevice(nameof(c), stream.Device);
        if (c.Dim(1) != n) throw new ArgumentException($"{nameof(c)} must have {n} columns, got {c}", nameof(c));
        if (rows < 0 || rows > a.Rows || rows > c.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({a.Rows}, {c.Rows})]");
        if (rows == 0) return;
        MatMulCore(stream, a, w, c, rows);
    }

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows);

    /// <summary>Frees the backend's handles (the cuBLASLt state is the device's; nothing on the reference backend).</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);
}
