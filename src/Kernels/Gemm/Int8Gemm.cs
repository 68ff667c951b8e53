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
        TnOperands.Check(stream, a, w, c, rows, DType.I8, DType.I32, DimensionMultiple, "int8 GEMM");
        if (rows == 0) return;
        MatMulCore(stream, a, w, c, rows);
    }

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows);

    /// <summary>Frees the backend's handles (the cuBLASLt state is the device's; nothing on the reference backend).</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);
}
