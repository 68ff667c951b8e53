using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// The int8_act_gemm template at its two tiles and, on sm_90, the TMA kernel (int8_act_tma.cu): the variants of
/// <see cref="Int8ActGemmVariant"/>; each call runs the one the rule picks or the one fixed at construction.
/// </summary>
internal sealed unsafe class Int8ActGemmCuda : Int8ActGemm
{
    internal const string Source = "gemm/int8_act_gemm.cu", TmaSource = "gemm/int8_act_tma.cu", StreamSource = "gemm/int8_act_stream.cu";

    /// <summary>The streaming kernels' block (int8_act_stream.cu's I8S_* defines): 8 weight rows, 4 warps.</summary>
    internal const int StreamCols = 8, StreamThreads = 128;

    /// <summary>Token rows a block of a streaming variant covers: the MMA's whole m16, or its lower half (no registers for the upper).</summary>
    internal static int StreamTokens(Int8ActGemmVariant v) => v == Int8ActGemmVariant.StreamNarrow ? 8 : 16;

    /// <summary>
    /// Chunks (16-byte weight loads of a lane) a streaming warp requests as one batch, with the activation bytes they meet:
    /// as many as keep weights and activations within about 96 registers (an int4 chunk meets twice the activation bytes
    /// of an int8 one, 16 token rows twice those of 8), so four blocks still fit an SM.
    /// </summary>
    internal static int StreamUnroll(Int8ActGemmVariant v, WeightOnlyFormat format) =>
        (format == WeightOnlyFormat.Int4, v == Int8ActGemmVariant.StreamNarrow) switch
        {
            (false, true) => 12,
            (false, false) => 8,
            (true, true) => 8,
            (true, false) => 4,
        };

    /// <summary>
    /// Dynamic shared memory of a streaming launch: none per channel; grouped, per 128-wide group the 128 int32 sums of the
    /// block's outputs and its 8 weight scales.
    /// </summary>
    internal static int StreamSharedBytes(bool grouped, int kp) => grouped ? kp / Int8ActPacking.Block * (128 * 4 + StreamCols * 4) : 0;

    /// <summary>
    /// The most shared memory a grouped streaming launch takes: 120 groups (K up to 15,360, Llama-3's 14,336 included), three
    /// blocks an SM at the most; past it the rule takes the small tile.
    /// </summary>
    internal const int StreamMaxSharedBytes = 64 * 1024;

    /// <summary>The TMA kernel's tile (int8_act_tma.cu's I8T_* defines): 128 rows, 256 columns, K tiles of 128 bytes, 384 threads.</summary>
    internal const int TmaTileM = 128, TmaTileN = 256, TmaTileK = 128, TmaThreads = 384;

    /// <summary>Stages of the TMA kernel's ring: a stage is 16 KiB of A and 32 KiB of W, and four are what 227 KiB holds.</summary>
    internal const int TmaStages = 4;

    /// <summary>Dynamic shared memory of a TMA ring of <paramref name="stages"/>: the A and W tiles, a full and an empty mbarrier per stage, 1 KiB to align the ring.</summary>
    internal static int TmaSharedBytes(int stages) => stages * (TmaTileM + TmaTileN) * TmaTileK + 2 * stages * 8 + 1024;

    /// <summary>A TMA launch: the 256-column blocks of C and the persistent CTAs (one per SM, fewer when there are fewer tiles).</summary>
    internal readonly record struct TmaPlan(int ColumnBlocks, int Ctas);

    /// <summary>The TMA launch for <paramref name="rows"/> host rows and <paramref name="n"/> columns on <paramref name="smCount"/> SMs.</summary>
    internal static TmaPlan PlanTma(int rows, int n, int smCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(smCount);
        int columnBlocks = (n + TmaTileN - 1) / TmaTileN;
        long tiles = (long)((rows + TmaTileM - 1) / TmaTileM) * columnBlocks;
        return new TmaPlan(columnBlocks, (int)Math.Min(smCount, tiles));
    }

    internal readonly record struct Tile(int BM, int BN, int WM, int WN, int Stages)
    {
        public int Threads => WM * WN * 32;
        public int SharedBytes(WeightOnlyFormat f) => Stages * (BM * 128 + BN * (f == WeightOnlyFormat.Int4 ? 64 : 128));
    }

    internal static Tile TileOf(Int8ActGemmVariant v) => v == Int8ActGemmVariant.Small ? new Tile(16, 32, 1, 4, 8) : new Tile(64, 128, 2, 4, 3);

    private readonly CudaDevice _device;
    private readonly Int8ActGemmVariant? _fixed;
    private readonly Dictionary<(DType, Int8ActGemmVariant, WeightOnlyFormat, bool), CudaKernel> _kernels = new();

    public Int8ActGemmCuda(CudaDevice device, Int8ActGemmVariant? variant)
    {
        _device = device;
        _fixed = variant;
    }

    internal static string KernelName(string type, Int8ActGemmVariant variant, WeightOnlyFormat format, bool grouped)
    {
        if (variant == Int8ActGemmVariant.Tma)
        {
            RequireTmaFormat(format, grouped);
            return $"int8_act_tma<{type}, {TmaStages}>";
        }
        if (IsStream(variant))
            return $"int8_act_stream<{type}, {(format == WeightOnlyFormat.Int4 ? 1 : 0)}, {(grouped ? 1 : 0)}, {StreamTokens(variant)}, {StreamUnroll(variant, format)}>";
        var t = TileOf(variant);
        return $"int8_act_gemm<{type}, {(format == WeightOnlyFormat.Int4 ? 1 : 0)}, {(grouped ? 1 : 0)}, {t.BM}, {t.BN}, {t.WM}, {t.WN}, {t.Stages}>";
    }

    /// <summary>The TMA kernel's one weight form; anything else is refused before a name or a launch is made.</summary>
    private static void RequireTmaFormat(WeightOnlyFormat format, bool grouped)
    {
        if (format != WeightOnlyFormat.Int8 || grouped)
            throw new ArgumentException($"the TMA int8 GEMM takes int8 weights with per-channel scales; got {format}{(grouped ? " with group scales" : "")}", nameof(format));
    }

    public override void Prepare(DType output, WeightOnlyFormat format, bool grouped)
    {
        var info = _device.Info;
        foreach (var v in _fixed is { } f ? new[] { f } : VariantsFor(format, grouped, info.ComputeMajor, info.ComputeMinor))
            _ = Kernel(output, v, format, grouped);
    }

    private CudaKernel Kernel(DType output, Int8ActGemmVariant variant, WeightOnlyFormat format, bool grouped)
    {
        lock (_kernels)
        {
            var key = (output, variant, format, grouped);
            if (!_kernels.TryGetValue(key, out var k))
            {
                var source = variant == Int8ActGemmVariant.Tma ? TmaSource : IsStream(variant) ? StreamSource : Source;
                k = _device.GetKernel(source, KernelName(output.CudaTypeName(), variant, format, grouped));
                int shared = variant == Int8ActGemmVariant.Tma ? TmaSharedBytes(TmaStages)
                    : IsStream(variant) ? (grouped ? StreamMaxSharedBytes : 0)
                    : TileOf(variant).SharedBytes(format);
                if (shared > 0) k.EnsureDynamicSharedMemory(shared);
                _kernels[key] = k;
            }
            return k;
        }
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int np, int kp, WeightOnlyFormat format, bool grouped, DevicePtr tokenCount)
    {
        var info = _device.Info;
        var variant = _fixed ?? ChooseVariant(rows, format, grouped, info.ComputeMajor, info.ComputeMinor);
        if (IsStream(variant) && StreamSharedBytes(grouped, kp) > StreamMaxSharedBytes)
        {
            if (_fixed is not null)
                throw new ArgumentException($"the streaming int8 GEMM keeps a group's sums per block: Kp={kp} with 128-wide groups needs {StreamSharedBytes(grouped, kp)} bytes of shared memory, more than {StreamMaxSharedBytes}", nameof(wScales));
            variant = Int8ActGemmVariant.Small;
        }
        if (variant == Int8ActGemmVariant.Tma)
        {
            LaunchTma(Kernel(c.DType, variant, format, grouped), (CudaStream)stream, a, aScales, w, wScales, c, rows, n, np, kp, tokenCount);
            return;
        }
        var kernel = Kernel(c.DType, variant, format, grouped);
        if (IsStream(variant))
        {
            LaunchStream(kernel, variant, (CudaStream)stream, a, aScales, w, wScales, c, rows, n, np, kp, tokenCount);
            return;
        }
        var tile = TileOf(variant);
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &pa, &psa, &pw, &psw, &pc, &rows, &n, &np, &kp, &pn };
        var grid = new Dim3((uint)(np / tile.BN), (uint)((rows + tile.BM - 1) / tile.BM));
        kernel.Launch((CudaStream)stream, grid, new Dim3((uint)tile.Threads), (uint)tile.SharedBytes(format), args);
    }

    /// <summary>Whether a variant is one of the weight-streaming kernels.</summary>
    internal static bool IsStream(Int8ActGemmVariant v) => v is Int8ActGemmVariant.Stream or Int8ActGemmVariant.StreamNarrow;

    /// <summary>
    /// A streaming kernel over <paramref name="rows"/> host rows: a block per 8 weight rows and 8 or 16 token rows, launched
    /// dependent so its first weight loads overlap the activation quantizer before it.
    /// </summary>
    private static void LaunchStream(CudaKernel kernel, Int8ActGemmVariant variant, CudaStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int np, int kp, DevicePtr tokenCount)
    {
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &pa, &psa, &pw, &psw, &pc, &rows, &n, &np, &kp, &pn };
        int tokens = StreamTokens(variant);
        var grid = new Dim3((uint)(np / StreamCols), (uint)((rows + tokens - 1) / tokens));
        kernel.Launch(stream, grid, new Dim3(StreamThreads), (uint)StreamSharedBytes(wScales.Dim(0) > 1, kp), args, dependent: true);
    }

    /// <summary>
    /// The TMA kernel's arguments: tensor maps of A ([rows, Kp] int8, boxes of 128 rows: rows past the host rows read as
    /// zeros) and W ([Np, Kp], boxes of 256 rows: the last block's rows past Np read as zeros), both scales, C, rows, N,
    /// Kp, the column blocks and the device token count. The maps are built here, on the host, and travel by value in
    /// the launch's parameters, so a captured launch carries them into its graph node.
    /// </summary>
    private void LaunchTma(CudaKernel kernel, CudaStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int np, int kp, DevicePtr tokenCount)
    {
        var plan = PlanTma(rows, n, _device.Info.SmCount);
        var aMap = TensorMap.Swizzled128(DType.I8, a.Ptr, stackalloc ulong[] { (ulong)kp, (ulong)rows }, stackalloc uint[] { TmaTileK, TmaTileM });
        var wMap = TensorMap.Swizzled128(DType.I8, w.Ptr, stackalloc ulong[] { (ulong)kp, (ulong)np }, stackalloc uint[] { TmaTileK, TmaTileN });
        ulong psa = aScales.Ptr.Address, psw = wScales.Ptr.Address, pc = c.Ptr.Address, pn = tokenCount.Address;
        int columnBlocks = plan.ColumnBlocks;
        void** args = stackalloc void*[] { &aMap, &wMap, &psa, &psw, &pc, &rows, &n, &kp, &columnBlocks, &pn };
        kernel.Launch(stream, new Dim3((uint)plan.Ctas), new Dim3(TmaThreads), (uint)TmaSharedBytes(TmaStages), args);
    }
}
