using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Quant;
using GemmFamily = GraphEngine.Kernels.Gemm.Gemm;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Launcher of native/weight_only_gemm.cu. Up to 16 rows: the one-pass memory-bound variant wo_gemv
/// (a block of 8 warps on TN 16-channel tiles splits K among its warps and reduces in shared memory;
/// TN is chosen so every SM gets one or two blocks), or, where its staged activations do not fit in
/// shared memory (16 rows at very large K), the split-K variant with a last-block reduction. Above 16
/// rows: expand the weights to the activation type and run cuBLASLt (see <see cref="DenseMinRows"/>).
/// </summary>
internal sealed unsafe class WeightOnlyGemmCuda : WeightOnlyGemm
{
    private const string Source = "gemm/weight_only_gemm.cu";
    internal const int SmallWarps = 4;
    internal const int SmallMaxRows = 16;
    private const int WarpsPerSm = 16;
    private const int MaxSplitK = 1024;   // keeps the staged activations (16 x 1024 bf16) under 48 KiB
    internal const int GemvWarps = 8;      // WO_GEMV_WARPS in the .cu file
    internal const int GemvTinyRows = 2;   // rows of the first wo_gemv range (see PlanCore)

    /// <summary>
    /// Above this many rows the weights are expanded to the activation type (one memory-bound kernel,
    /// ~10 us for 4096 x 4096) and cuBLASLt runs on them. On the H200 the register-dequantizing tiled
    /// kernel this replaced took 124-129 us at 128 rows (4096 x 4096, wint8 and wint4 g128): slower
    /// than this path at 2048 rows. wo_gemv stops at 16 rows. Costs N x K x 2 bytes per plan.
    /// </summary>
    internal const int DenseMinRows = SmallMaxRows;
    private const int DequantChunks = 8;   // WO_DQ_CHUNKS in the .cu file
    private const int GemvBlocksPerSm = 2; // __launch_bounds__(256, 2)
    private const int SharedReservedPerBlock = 1024;   // what the driver keeps per resident block

    /// <summary>Launch shape of wo_gemv for one token-tile count.</summary>
    internal readonly record struct GemvShape(int Tn, int ChunksPerWarp, int Blocks, int MaxSharedBytes);

    /// <summary>
    /// Dynamic shared memory of wo_gemv (mirrors the layout comment in the .cu file): a 16-byte zero
    /// row, scales and bias of the block's channels, then the activations of <paramref name="rows"/>
    /// rows (reused for the cross-warp reduction, so at least that much).
    /// </summary>
    internal static int GemvSharedBytes(int tn, int nt, int rows, int chunks, int chunkK, int groups)
    {
        int head = (16 + (groups + 1) * tn * 16 * 4 + 15) & ~15;
        long x = (long)rows * (chunks * chunkK + 8) * 2;
        long red = (long)GemvWarps * tn * nt * 4 * 32 * 4;
        return checked((int)(head + Math.Max(x, red)));
    }

    /// <summary>
    /// TN (tiles per block) for wo_gemv launched with up to <paramref name="rows"/> rows: the smallest of
    /// 1, 2, 4 whose blocks all fit on the SMs at once (two per SM where shared memory allows, else one);
    /// K is split evenly among the warps in whole scale groups. Null when even TN = 1 needs more shared
    /// memory than a block may have.
    /// </summary>
    internal static GemvShape? Gemv(int tiles, int chunks, int chunkK, int chunksPerGroup, int groups, int nt, int rows, int smCount, int maxSharedPerBlock)
    {
        int cpw = (chunks + GemvWarps - 1) / GemvWarps;
        cpw = (cpw + chunksPerGroup - 1) / chunksPerGroup * chunksPerGroup;
        GemvShape? best = null;
        // 16 token rows with two-chunk groups and 4 tiles would need more than 128 registers (the
        // double-buffered weights of a whole group per tile plus two accumulator sets): stop at 2.
        int maxTn = nt == 2 && chunksPerGroup > 1 ? 2 : 4;
        foreach (int tn in new[] { 1, 2, 4 })
        {
            if (tn > maxTn) break;
            int smem = GemvSharedBytes(tn, nt, rows, chunks, chunkK, groups);
            if (smem > maxSharedPerBlock) break;
            int perSm = Math.Clamp((maxSharedPerBlock + SharedReservedPerBlock) / (smem + SharedReservedPerBlock), 1, GemvBlocksPerSm);
            int blocks = (tiles + tn - 1) / tn;
            best = new GemvShape(tn, cpw, blocks, smem);
            if (blocks <= smCount * perSm) break;
        }
        return best;
    }

    private readonly CudaDevice _device;

    public WeightOnlyGemmCuda(CudaDevice device) => _device = device;

    /// <summary>
    /// Split-K of the few-token variant: enough splits for ~16 warps per SM, each split at least the 4
    /// chunks a warp keeps in flight, starting on a scale-group boundary and at most 1024 k long.
    /// </summary>
    internal static (int Splits, int ChunksPerSplit) SplitK(int chunks, int chunkK, int chunksPerGroup, int blocksN, int smCount)
    {
        int targetWarps = smCount * WarpsPerSm;
        int desired = Math.Max(1, (targetWarps + blocksN * SmallWarps - 1) / (blocksN * SmallWarps));
        int cps = (chunks + desired - 1) / desired;
        cps = Math.Max(cps, Math.Min(chunks, 4));
        cps = (cps + chunksPerGroup - 1) / chunksPerGroup * chunksPerGroup;
        int maxCps = Math.Max(chunksPerGroup, MaxSplitK / chunkK / chunksPerGroup * chunksPerGroup);
        cps = Math.Min(cps, maxCps);
        return ((chunks + cps - 1) / cps, cps);
    }

    private static string Bool(bool b) => b ? "true" : "false";

    /// <summary>The launch decisions of a plan: wo_gemv's shape for each row range (null where it cannot stage
    /// the activations), whether the split-K kernel is needed for a range, and its split.</summary>
    internal readonly record struct PlanShape(GemvShape? Gemv0, GemvShape? Gemv1, GemvShape? Gemv2, bool NeedSmall1, bool NeedSmall2,
                                              int Splits, int ChunksPerSplit, int BlocksN);

    /// <summary>The plan's decisions from host-side values only: the weights' scheme and shape, the most rows, the GPU's SMs and shared memory.</summary>
    internal static PlanShape Shape(WeightOnlyScheme scheme, int n, int k, int maxRows, int smCount, int maxSharedPerBlock)
    {
        var f = scheme.Format;
        int chunkK = WeightOnlyPacking.ChunkK(f);
        int chunks = WeightOnlyPacking.ChunksK(f, k);
        int cpg = scheme.PerChannel ? 1 : scheme.GroupSize.Size / chunkK;
        int tilesN = WeightOnlyPacking.PaddedN(n) / WeightOnlyPacking.TileN;
        int blocksN = (tilesN + SmallWarps - 1) / SmallWarps;
        int groups = scheme.Groups(k);
        // Three row ranges: 1-2 rows (little staged activation, so often a smaller TN and more blocks),
        // 3-8 (one n8 token tile), 9-16 (two).
        var gemv0 = Gemv(tilesN, chunks, chunkK, cpg, groups, 1, GemvTinyRows, smCount, maxSharedPerBlock);
        var gemv1 = maxRows > GemvTinyRows ? Gemv(tilesN, chunks, chunkK, cpg, groups, 1, 8, smCount, maxSharedPerBlock) : null;
        var gemv2 = maxRows > 8 ? Gemv(tilesN, chunks, chunkK, cpg, groups, 2, 16, smCount, maxSharedPerBlock) : null;
        // needSmall*: the split-K variant stays for the token counts wo_gemv cannot stage (16 rows at very large K).
        bool needSmall1 = gemv0 is null || (maxRows > GemvTinyRows && gemv1 is null), needSmall2 = maxRows > 8 && gemv2 is null;
        var (splits, cps) = needSmall1 || needSmall2 ? SplitK(chunks, chunkK, cpg, blocksN, smCount) : (1, chunks);
        return new PlanShape(gemv0, gemv1, gemv2, needSmall1, needSmall2, splits, cps, blocksN);
    }

    // The kernels take the group as a template int, 0 = per channel: the one conversion of GroupSize here.
    private static string Args(string type, WeightOnlyScheme scheme) =>
        $"{type}, {Bool(scheme.Format == WeightOnlyFormat.Int4)}, {(scheme.PerChannel ? 0 : scheme.GroupSize.Size)}";

    internal static string GemvName(string type, WeightOnlyScheme scheme, int nt, int tn) => $"wo_gemv<{Args(type, scheme)}, {nt}, {tn}>";
    internal static string SmallName(string type, WeightOnlyScheme scheme, int nt) => $"wo_gemm_small<{Args(type, scheme)}, {nt}>";
    internal static string DequantizeName(string type, WeightOnlyScheme scheme) => $"wo_dequantize<{Args(type, scheme)}>";

    /// <summary>The n8 token tiles of a call with <paramref name="rows"/> rows (up to <see cref="DenseMinRows"/>).</summary>
    private static int TokenTiles(int rows) => rows <= 8 ? 1 : 2;

    /// <summary>wo_gemv's shape for a call with <paramref name="rows"/> rows, or null when the split-K kernel runs it.</summary>
    private static GemvShape? GemvFor(in PlanShape s, int rows) =>
        rows <= GemvTinyRows ? s.Gemv0 : TokenTiles(rows) == 1 ? s.Gemv1 : s.Gemv2;

    /// <summary>The kernel a call with <paramref name="rows"/> host rows runs under a plan for <paramref name="maxRows"/>.</summary>
    internal static string KernelFor(string type, WeightOnlyScheme scheme, int n, int k, int rows, int maxRows, LaunchTarget target)
    {
        if (rows > DenseMinRows) return DequantizeName(type, scheme) + " + cuBLASLt";
        var s = Shape(scheme, n, k, maxRows, target.SmCount, target.MaxSharedPerBlockOptin);
        int nt = TokenTiles(rows);
        return GemvFor(s, rows) is { } g ? GemvName(type, scheme, nt, g.Tn) : SmallName(type, scheme, nt);
    }

    protected override WeightOnlyPlan PlanCore(WeightOnlyMatrix w, DType activation, int maxRows)
    {
        var scheme = w.Scheme;
        string t = activation.CudaTypeName();
        var decided = Shape(scheme, w.N, w.K, maxRows, _device.Info.SmCount, _device.MaxSharedMemoryPerBlockOptin);
        var (gemv0, gemv1, gemv2, needSmall1, needSmall2, splits, cps, blocksN) = decided;

        // Every instance this plan uses is named first and fetched in one call, so the cold compiles run in parallel.
        var names = new List<string>();
        int Want(bool needed, string name)
        {
            if (!needed) return -1;
            names.Add(name);
            return names.Count - 1;
        }
        int i0 = Want(gemv0 is not null, GemvName(t, scheme, 1, gemv0?.Tn ?? 0));
        int i1 = Want(gemv1 is not null, GemvName(t, scheme, 1, gemv1?.Tn ?? 0));
        int i2 = Want(gemv2 is not null, GemvName(t, scheme, 2, gemv2?.Tn ?? 0));
        int iSmall1 = Want(needSmall1, SmallName(t, scheme, 1));
        int iSmall2 = Want(needSmall2, SmallName(t, scheme, 2));
        int iDequant = Want(maxRows > DenseMinRows, DequantizeName(t, scheme));
        var kernels = _device.GetKernels(Source, names);
        CudaKernel? Pick(int index) => index < 0 ? null : kernels[index];
        CudaKernel? GemvKernel(GemvShape? shape, int index)
        {
            if (shape is not { } sh) return null;
            var kernel = kernels[index];
            kernel.EnsureDynamicSharedMemory(sh.MaxSharedBytes);
            return kernel;
        }
        var g0 = GemvKernel(gemv0, i0);
        var g1 = GemvKernel(gemv1, i1);
        var g2 = GemvKernel(gemv2, i2);
        var small1 = Pick(iSmall1);
        var small2 = Pick(iSmall2);

        DeviceBuffer? dense = null;
        Tensor denseW = default;
        CudaKernel? dequant = Pick(iDequant);
        GemmFamily? denseGemm = null;
        if (maxRows > DenseMinRows)
        {
            dense = _device.AllocateTensor(activation, new long[] { w.N, w.K }, out denseW, "weight-only dense expansion");
            denseGemm = GemmFamily.Create(_device);
        }

        DeviceBuffer? partial = null, counters = null;
        if (splits > 1)
        {
            partial = _device.Allocate((long)splits * 16 * w.PaddedN * sizeof(float), "weight-only split-K partials");
            counters = _device.Allocate((long)blocksN * sizeof(int), "weight-only split-K tickets");
            var s = _device.DefaultStream;
            s.Fill32Async(counters.Ptr, 0, blocksN);
            s.Synchronize();
        }
        return new CudaPlan(w, activation, maxRows)
        {
            Splits = splits,
            ChunksPerSplit = cps,
            WorkspaceBytes = (partial?.Bytes ?? 0) + (counters?.Bytes ?? 0) + (dense?.Bytes ?? 0),
            Dense = dense,
            DenseWeights = denseW,
            Dequantize = dequant,
            DenseGemm = denseGemm,
            BlocksN = blocksN,
            Small1 = small1,
            Small2 = small2,
            Gemv0 = g0,
            Gemv1 = g1,
            Gemv2 = g2,
            Gemv0Shape = gemv0 ?? default,
            Gemv1Shape = gemv1 ?? default,
            Gemv2Shape = gemv2 ?? default,
            Partial = partial,
            Counters = counters,
        };
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, WeightOnlyPlan plan, Tensor c, int rows, DevicePtr tokenCount, Tensor? bias)
    {
        var p = (CudaPlan)plan;
        var w = p.Weights;
        var cs = (CudaStream)stream;
        ulong px = a.Ptr.Address, pw = w.Packed.Ptr.Address, ps = w.Scales.Ptr.Address;
        ulong pb = bias?.Ptr.Address ?? 0, pc = c.Ptr.Address, pt = tokenCount.Address;
        int n = w.N, k = w.K, npad = w.PaddedN, chunks = w.ChunksK;
        int aligned = k % 8 == 0 ? 1 : 0;
        int elem = a.DType == DType.F32 ? 4 : 2;

        if (rows > DenseMinRows)
        {
            // Expand the weights, then cuBLASLt. It computes the padded rows too (it cannot read the
            // device count), as the bf16 path does; padded rows never touch valid ones.
            ulong pd = p.DenseWeights.Ptr.Address;
            void** dargs = stackalloc void*[] { &pw, &ps, &pd, &n, &k, &npad, &chunks };
            var dgrid = new Dim3((uint)((chunks + DequantChunks - 1) / DequantChunks), (uint)(npad / WeightOnlyPacking.TileN));
            p.Dequantize!.Launch(cs, dgrid, new Dim3(DequantChunks * 32), 0, dargs);
            p.DenseGemm!.MatMul(stream, a, p.DenseWeights, c, rows, bias);
            return;
        }

        int nt0 = TokenTiles(rows);
        var gemv = rows <= GemvTinyRows ? p.Gemv0 : nt0 == 1 ? p.Gemv1 : p.Gemv2;
        if (gemv is not null)
        {
            var sh = rows <= GemvTinyRows ? p.Gemv0Shape : nt0 == 1 ? p.Gemv1Shape : p.Gemv2Shape;
            int cpw = sh.ChunksPerWarp, groups = w.Groups;
            uint smem = (uint)GemvSharedBytes(sh.Tn, nt0, rows, chunks, WeightOnlyPacking.ChunkK(w.Scheme.Format), groups);
            void** args = stackalloc void*[] { &px, &pw, &ps, &pb, &pc, &pt, &rows, &n, &k, &npad, &chunks, &cpw, &groups, &aligned };
            gemv.Launch(cs, new Dim3((uint)sh.Blocks), new Dim3(GemvWarps * 32), smem, args);
        }
        else
        {
            int nt = nt0;
            var kernel = nt == 1 ? p.Small1! : p.Small2!;
            ulong ppart = p.Partial?.Ptr.Address ?? 0, pcnt = p.Counters?.Ptr.Address ?? 0;
            int cps = p.ChunksPerSplit;
            uint smem = (uint)(nt * 8 * (cps * WeightOnlyPacking.ChunkK(w.Scheme.Format) + 8) * elem);
            void** args = stackalloc void*[] { &px, &pw, &ps, &pb, &pc, &ppart, &pcnt, &pt, &rows, &n, &k, &npad, &chunks, &cps, &aligned };
            kernel.Launch(cs, new Dim3((uint)p.BlocksN, (uint)p.Splits), new Dim3(SmallWarps * 32), smem, args);
        }
    }

    private sealed class CudaPlan : WeightOnlyPlan
    {
        public CudaPlan(WeightOnlyMatrix w, DType activation, int maxRows) : base(w, activation, maxRows) { }

        public int BlocksN { get; init; }
        public CudaKernel? Small1 { get; init; }
        public CudaKernel? Gemv0 { get; init; }
        public CudaKernel? Gemv1 { get; init; }
        public CudaKernel? Gemv2 { get; init; }
        public GemvShape Gemv0Shape { get; init; }
        public GemvShape Gemv1Shape { get; init; }
        public GemvShape Gemv2Shape { get; init; }
        public CudaKernel? Small2 { get; init; }
        public DeviceBuffer? Partial { get; init; }
        public DeviceBuffer? Dense { get; init; }
        public Tensor DenseWeights { get; init; }
        public CudaKernel? Dequantize { get; init; }
        public GemmFamily? DenseGemm { get; init; }
        public DeviceBuffer? Counters { get; init; }

        public override void Dispose()
        {
            Counters?.Dispose();
            Partial?.Dispose();
            DenseGemm?.Dispose();
            Dense?.Dispose();
        }
    }
}
