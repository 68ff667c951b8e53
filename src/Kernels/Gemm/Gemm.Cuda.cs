using GraphEngine.Kernels.Cuda;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// bf16/fp16 GEMM, fp32 compute. Up to <see cref="GemvMaxRows"/> rows with enough 8-channel tiles to fill the SMs,
/// K a multiple of 8 and 16-byte aligned operands: dense_gemv (native/gemm/dense_gemv.cu), which streams the weights
/// straight into MMA fragments. Otherwise cuBLASLt, fp32 scale, bias through the BIAS epilogue; its first call of a
/// shape (eager, at warm-up) picks the algorithm, later calls, captured ones included, only launch.
/// </summary>
internal sealed unsafe class GemmCuda : Gemm
{
    /// <summary>Most rows dense_gemv takes (its A operand is one m16 tile of token rows).</summary>
    internal const int GemvMaxRows = 16;

    /// <summary>Warps of a dense_gemv block, splitting K.</summary>
    internal const int GemvWarps = 4;

    private const string GemvSource = "gemm/dense_gemv.cu";

    /// <summary>Largest weight matrix (elements) dense_gemv takes; see <see cref="UsesGemv"/>.</summary>
    internal const long GemvMaxElements = 32L << 20;

    /// <summary>
    /// Whether a product of <paramref name="rows"/> rows, N = <paramref name="n"/>, K = <paramref name="k"/> takes
    /// dense_gemv on a GPU of <paramref name="smCount"/> SMs (operands 16-byte aligned): where the H200 measured it
    /// faster than cuBLASLt, and nowhere else. At 640f622+: 4096 x 4096 at 1 row 11.1 us against cuBLASLt's 14.5 (floor
    /// 8.1), at 16 rows 12.2 against 14.2. Slower: 8192 x 8192 (37.9 against 35.3 us at 1 row: two waves of four blocks
    /// per SM, each draining its loads at the wave's end), and the ERNIE-4.5 projections at K = 2560 (2a852b8: 111
    /// launches a step took 1011 us at 1 token, 9.1 us each, where cuBLASLt's 110 had taken 865 us at 215f519; each
    /// warp's quarter of K is then two batches of loads, mostly latency). So: at most 16 rows, K a multiple of 8 and at
    /// least 4096, one 8-channel tile per SM or more, at most 64 MiB of bf16 weights.
    /// </summary>
    internal static bool UsesGemv(int rows, int n, int k, int smCount) =>
        rows <= GemvMaxRows && k % 8 == 0 && k >= GemvMinK && (n + 7) / 8 >= smCount && (long)n * k <= GemvMaxElements;

    /// <summary>Smallest K dense_gemv takes; see <see cref="UsesGemv"/>.</summary>
    internal const int GemvMinK = 4096;

    /// <summary>The dense_gemv instance, T the element type as given.</summary>
    internal static string GemvName(string type) => $"dense_gemv<{type}, {GemvWarps}, {GemvUnroll}>";

    /// <summary>32-wide K chunks of weight loads each lane keeps in flight.</summary>
    internal const int GemvUnroll = 16;

    private readonly CudaDevice _device;
    private readonly CublasLtMatmul _lt;

    public GemmCuda(CudaDevice device)
    {
        _device = device;
        _lt = device.Matmul;
    }

    /// <summary>Distinct problem shapes planned so far.</summary>
    public int PlanCount => _lt.PlanCount;

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, Tensor? bias)
    {
        if (stream is not CudaStream cs) throw new ArgumentException($"stream is a {stream.GetType().Name}, not a CUDA stream", nameof(stream));
        int n = checked((int)w.Dim(0)), k = checked((int)a.Dim(1));
        if (UsesGemv(rows, n, k, _device.Info.SmCount) && ((a.Ptr.Address | w.Ptr.Address) & 15) == 0)
        {
            ulong pa = a.Ptr.Address, pw = w.Ptr.Address, pb = bias?.Ptr.Address ?? 0, pc = c.Ptr.Address;
            void** args = stackalloc void*[] { &pa, &pw, &pb, &pc, &rows, &n, &k };
            _device.GetKernel(GemvSource, GemvName(a.DType.CudaTypeName()))
                .Launch(cs, new Dim3((uint)((n + 7) / 8)), new Dim3(GemvWarps * 32), 0, args);
            return;
        }
        int type = a.DType == DType.BF16 ? CublasLt.CUDA_R_16BF : CublasLt.CUDA_R_16F;
        _lt.Run(cs, rows, checked((int)w.Dim(0)), checked((int)a.Dim(1)), type, type,
            a.Ptr.Address, w.Ptr.Address, c.Ptr.Address, bias?.Ptr.Address ?? 0, 0, 0);
    }

    // The cuBLASLt state belongs to the device and is shared; nothing of its own to release.
}
