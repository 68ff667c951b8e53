namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Dense half-precision GEMM with fp32 accumulation: C[m, n] = A[m, k] · W[n, k]ᵀ (+ bias[n]),
/// row-major activations times [out, in] weights as a Linear layer stores them. On CUDA this is
/// cuBLASLt with a preallocated workspace and an algorithm cached per shape, so it can be captured.
/// </summary>
public abstract class Gemm : IDisposable
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Gemm Create(Device device) =>
        KernelBackend.Create<Gemm>(device, cuda => new GemmCuda(cuda), () => new GemmReference());

    /// <summary>
    /// The kernel of ours a product of <paramref name="rows"/> rows (the padded size) runs on <paramref name="target"/>,
    /// T for the element type, or null where it is cuBLASLt's.
    /// </summary>
    public static string? Variant(int rows, int n, int k, LaunchTarget target) =>
        GemmCuda.UsesGemv(rows, n, k, target.SmCount) ? GemmCuda.GemvName(LaunchTarget.TypeParameter) : null;

    /// <summary>Every name <see cref="Variant"/> can return.</summary>
    public static IReadOnlyList<string> Variants(LaunchTarget target) => new[] { GemmCuda.GemvName(LaunchTarget.TypeParameter) };

    /// <summary>
    /// Multiplies rows [0, <paramref name="rows"/>) of <paramref name="a"/>; <paramref name="rows"/> is a
    /// host-known bound (the padded token count). Padded rows are computed too but never touch a valid row.
    /// </summary>
    public void MatMul(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        a.RequireRank(nameof(a), 2).RequireDevice(nameof(a), stream.Device);
        if (!a.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(a)} must be BF16 or F16, got {a}", nameof(a));
        long k = a.Dim(1);
        w.RequireRank(nameof(w), 2).Require(nameof(w), a.DType).RequireDevice(nameof(w), stream.Device);
        long n = w.Dim(0);
        if (w.Dim(1) != k) throw new ArgumentException($"{nameof(w)} must be [{n}, {k}] to match a {a}, got {w}", nameof(w));
        c.RequireRank(nameof(c), 2).Require(nameof(c), a.DType).RequireDevice(nameof(c), stream.Device);
        if (c.Dim(1) != n) throw new ArgumentException($"{nameof(c)} must have {n} columns, got {c}", nameof(c));
        if (rows < 0 || rows > a.Rows || rows > c.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({a.Rows}, {c.Rows})]");
        if (bias is { } b) b.Require(nameof(bias), a.DType, n).RequireDevice(nameof(bias), stream.Device);
        if (rows == 0) return;
        MatMulCore(stream, a, w, c, rows, bias);
    }

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, Tensor? bias);

    /// <summary>Frees the backend's handles and workspace (nothing on the reference backend).</summary>
    public virtual void Dispose() { }
}
