namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// The per-channel scale epilogue of w8a8 behind cuBLASLt's IMMA product (native/gemm/int8_scale_epilogue.cu):
/// C[r, j] = rn(rn(float(C32[r, j]) · w_scale[j]) · a_scale[r]) rounded once to bf16 / fp16, the same operations as
/// <see cref="Int8ActGemm.Epilogue"/>, so the IMMA path and the mma.sync kernel give the same bits. Rows at or past
/// the device token count are not written. Capturable.
/// </summary>
public abstract class Int8ScaleEpilogue
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Int8ScaleEpilogue Create(Device device) =>
        KernelBackend.Create<Int8ScaleEpilogue>(device, cuda => new Int8ScaleEpilogueCuda(cuda), () => new Int8ScaleEpilogueReference());

    /// <summary>The kernel, T for the output type: what `graphengine check --list` names.</summary>
    public const string KernelName = "int8_scale_epilogue<T>";

    /// <summary>C [rows, N] from <paramref name="c32"/> I32 [>= rows, Np], <paramref name="aScales"/> [>= rows] and <paramref name="wScales"/> F32 [1, Np].</summary>
    public void Apply(ComputeStream stream, Tensor c32, Tensor aScales, Tensor wScales, Tensor c, int rows, DevicePtr tokenCount)
    {
        ArgumentNullException.ThrowIfNull(stream);
        c32.RequireRank(nameof(c32), 2).Require(nameof(c32), DType.I32).RequireDevice(nameof(c32), stream.Device);
        long np = c32.Dim(1);
        aScales.RequireRank(nameof(aScales), 1).Require(nameof(aScales), DType.F32).RequireDevice(nameof(aScales), stream.Device);
        wScales.Require(nameof(wScales), DType.F32, 1, np).RequireDevice(nameof(wScales), stream.Device);
        c.RequireRank(nameof(c), 2).RequireDevice(nameof(c), stream.Device);
        if (!c.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(c)} must be BF16 or F16, got {c}", nameof(c));
        long n = c.Dim(1);
        if (n < 1 || n > np) throw new ArgumentException($"{nameof(c)} has {n} columns; the product has {np}", nameof(c));
        if (rows < 0 || rows > c32.Rows || rows > aScales.Rows || rows > c.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({c32.Rows}, {aScales.Rows}, {c.Rows})]");
        if (rows == 0) return;
        ApplyCore(stream, c32, aScales, wScales, c, rows, (int)n, (int)np, tokenCount);
    }

    /// <summary>Compiles the kernel for <paramref name="output"/> now (no-op on the reference backend).</summary>
    public virtual void Prepare(DType output) { }

    /// <summary>The backend's kernel behind <see cref="Apply"/>, called once the arguments are checked.</summary>
    protected abstract void ApplyCore(ComputeStream stream, Tensor c32, Tensor aScales, Tensor wScales, Tensor c, int rows, int n, int np, DevicePtr tokenCount);
}
