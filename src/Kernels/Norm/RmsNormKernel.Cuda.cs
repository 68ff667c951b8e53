using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Norm;

/// <summary>
/// Launcher of native/rms_norm.cu: one block per row. The vector width is the widest the hidden size
/// divides (8 elements = 16 bytes when possible); ITEMS vectors per thread keep the row in registers,
/// chosen so a block has at most 256 threads (1024 for unaligned hidden sizes) and several loads in
/// flight per thread at large hidden sizes. Up to two rows per SM the variant that loads the weight
/// together with the row is used (launch latency is what counts); above, the one that loads it after
/// the block sum (fewer live registers, more rows in flight per SM). Rows that would need more than 8
/// vectors per thread at 1024 threads take rms_norm_long, which reads the row twice (at 16 vectors per
/// thread the H200 refused the launch for want of registers).
/// </summary>
internal sealed unsafe class RmsNormKernelCuda : RmsNormKernel
{
    private readonly CudaDevice _device;
    private readonly Dictionary<(DType, int, bool, bool), (CudaKernel Kernel, uint Threads)> _variants = new();

    public RmsNormKernelCuda(CudaDevice device) => _device = device;

    /// <summary>Threads of rms_norm_long (RN_LONG_THREADS in rms_norm.cu).</summary>
    internal const int LongThreads = 512;

    /// <summary>
    /// Vector width, vectors per thread and threads for a hidden size. Items = 0: the row does not fit in registers
    /// (more than 8 vectors per thread at 1024 threads) and rms_norm_long reads it twice with <see cref="LongThreads"/>.
    /// </summary>
    internal static (int Vec, int Items, int Threads) Config(int hidden)
    {
        int vec = hidden % 8 == 0 ? 8 : hidden % 4 == 0 ? 4 : hidden % 2 == 0 ? 2 : 1;
        int vectors = hidden / vec;
        int items = 1;
        int threadCap = vec == 8 ? 256 : 1024;
        while (items < 8 && (vectors + items - 1) / items > threadCap) items *= 2;
        int threads = Math.Max(32, ((vectors + items - 1) / items + 31) / 32 * 32);
        return threads > 1024 ? (vec, 0, LongThreads) : (vec, items, threads);
    }

    public override void Prepare(DType dtype, int hidden, bool residual)
    {
        // Both variants in one fetch: a cold start compiles them in parallel (long rows have one).
        _device.GetKernels(Source, new[] { KernelName(dtype, hidden, residual, true), KernelName(dtype, hidden, residual, false) }.Distinct().ToArray());
        Variant(dtype, hidden, residual, true);
        Variant(dtype, hidden, residual, false);
    }

    private const string Source = "norm/rms_norm.cu";

    private static string KernelName(DType dtype, int hidden, bool residual, bool earlyWeight) =>
        Name(dtype.CudaTypeName(), hidden, residual ? "true" : "false", earlyWeight);

    /// <summary>The instance for a hidden size and weight timing, with the element type and the residual flag as given (a type name and "true"/"false", or placeholders).</summary>
    internal static string Name(string type, int hidden, string residual, bool earlyWeight)
    {
        var (vec, items, _) = Config(hidden);
        if (items == 0) return $"rms_norm_long<{type}, {vec}, {residual}>";
        return $"rms_norm<{type}, {vec}, {items}, {residual}, {(earlyWeight ? "true" : "false")}>";
    }

    /// <summary>Rows up to which the weight is loaded with the row (see the class summary).</summary>
    internal static bool EarlyWeight(int rows, int smCount) => rows <= 2 * smCount;

    private (CudaKernel Kernel, uint Threads) Variant(DType dtype, int hidden, bool residual, bool earlyWeight)
    {
        lock (_variants)
        {
            if (_variants.TryGetValue((dtype, hidden, residual, earlyWeight), out var v)) return v;
            var (_, _, threads) = Config(hidden);
            var kernel = _device.GetKernel(Source, KernelName(dtype, hidden, residual, earlyWeight));
            // The row lives in registers, ITEMS vectors per thread: at the largest rows the registers ptxas gave the
            // kernel may allow fewer threads per block than the row needs (on the H200: 672 threads of
            // rms_norm<bf16, 2 or 4, 16, ...>). Refused here, at construction (Prepare), with the numbers, rather
            // than failing the launch.
            if (kernel.MaxThreadsPerBlock < threads)
                throw new ArgumentOutOfRangeException(nameof(hidden), hidden,
                    $"RMSNorm hidden size {hidden} needs {threads} threads per block for {kernel.Name}, which this GPU runs at " +
                    $"most {kernel.MaxThreadsPerBlock} of ({kernel.RegistersPerThread} registers per thread); hidden sizes that are a multiple of 8 use 16-byte loads and fewer threads");
            v = (kernel, (uint)threads);
            _variants[(dtype, hidden, residual, earlyWeight)] = v;
            return v;
        }
    }

    protected override void RunCore(ComputeStream stream, Tensor x, Tensor weight, Tensor output, int rows, DevicePtr tokenCount, float eps, Tensor? residual)
    {
        int hidden = (int)x.Dim(1);
        var (kernel, threads) = Variant(x.DType, hidden, residual is not null, EarlyWeight(rows, _device.Info.SmCount));
        ulong px = x.Ptr.Address, pr = residual?.Ptr.Address ?? 0, pw = weight.Ptr.Address, po = output.Ptr.Address, pt = tokenCount.Address;
        void** args = stackalloc void*[] { &px, &pr, &pw, &po, &pt, &rows, &hidden, &eps };
        kernel.Launch((CudaStream)stream, new Dim3((uint)rows), new Dim3(threads), 0, args, dependent: true);
    }
}
