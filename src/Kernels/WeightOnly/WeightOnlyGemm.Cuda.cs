using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.WeightOnly;

/// <summary>
/// Launcher of native/weight_only_gemm.cu. Up to 16 rows: the memory-bound variant (one warp per 16
/// channels streaming the weights once, split-K to put ~16 warps on every SM, deterministic reduction
/// by the last block). Above: the tiled variant (128 channels x 64 or 128 tokens per block).
/// </summary>
internal sealed unsafe class WeightOnlyGemmCuda : WeightOnlyGemm
{
    private const string Source = "weight_only_gemm.cu";
    internal const int SmallWarps = 4;
    internal const int SmallMaxRows = 16;
    private const int WarpsPerSm = 16;
    private const int MaxSplitK = 1024;   // keeps the staged activations (16 x 1024 bf16) under 48 KiB

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

    protected override WeightOnlyPlan PlanCore(WeightOnlyMatrix w, DType activation, int maxRows)
    {
        var f = w.Scheme.Format;
        int chunkK = WeightOnlyPacking.ChunkK(f);
        int chunks = w.ChunksK;
        int cpg = w.Scheme.PerChannel ? 1 : w.Scheme.GroupSize / chunkK;
        int tilesN = w.PaddedN / WeightOnlyPacking.TileN;
        int blocksN = (tilesN + SmallWarps - 1) / SmallWarps;

        var (splits, cps) = SplitK(chunks, chunkK, cpg, blocksN, _device.Info.SmCount);

        string t = activation.CudaTypeName(), i4 = Bool(f == WeightOnlyFormat.Int4);
        int group = w.Scheme.GroupSize;
        var small1 = _device.GetKernel(Source, $"wo_gemm_small<{t}, {i4}, {group}, 1>");
        var small2 = maxRows > 8 ? _device.GetKernel(Source, $"wo_gemm_small<{t}, {i4}, {group}, 2>") : null;
        var tiled64 = maxRows > SmallMaxRows ? _device.GetKernel(Source, $"wo_gemm_tiled<{t}, {i4}, {group}, 64>") : null;
        var tiled128 = maxRows > 64 ? _device.GetKernel(Source, $"wo_gemm_tiled<{t}, {i4}, {group}, 128>") : null;

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
            WorkspaceBytes = (partial?.Bytes ?? 0) + (counters?.Bytes ?? 0),
            BlocksN = blocksN,
            Small1 = small1,
            Small2 = small2,
            Tiled64 = tiled64,
            Tiled128 = tiled128,
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

        if (rows <= SmallMaxRows)
        {
            int nt = rows <= 8 ? 1 : 2;
            var kernel = nt == 1 ? p.Small1 : p.Small2!;
            ulong ppart = p.Partial?.Ptr.Address ?? 0, pcnt = p.Counters?.Ptr.Address ?? 0;
            int cps = p.ChunksPerSplit;
            uint smem = (uint)(nt * 8 * (cps * WeightOnlyPacking.ChunkK(w.Scheme.Format) + 8) * elem);
            void** args = stackalloc void*[] { &px, &pw, &ps, &pb, &pc, &ppart, &pcnt, &pt, &rows, &n, &k, &npad, &chunks, &cps, &aligned };
            kernel.Launch(cs, new Dim3((uint)p.BlocksN, (uint)p.Splits), new Dim3(SmallWarps * 32), smem, args);
        }
        else
        {
            int tok = rows <= 64 ? 64 : 128;
            var kernel = tok == 64 ? p.Tiled64! : p.Tiled128!;
            uint gx = (uint)((npad / WeightOnlyPacking.TileN + 7) / 8), gy = (uint)((rows + tok - 1) / tok);
            void** args = stackalloc void*[] { &px, &pw, &ps, &pb, &pc, &pt, &rows, &n, &k, &npad, &chunks, &aligned };
            kernel.Launch(cs, new Dim3(gx, gy), new Dim3(256), 0, args);
        }
    }

    private sealed class CudaPlan : WeightOnlyPlan
    {
        public CudaPlan(WeightOnlyMatrix w, DType activation, int maxRows) : base(w, activation, maxRows) { }

        public int BlocksN { get; init; }
        public required CudaKernel Small1 { get; init; }
        public CudaKernel? Small2 { get; init; }
        public CudaKernel? Tiled64 { get; init; }
        public CudaKernel? Tiled128 { get; init; }
        public DeviceBuffer? Partial { get; init; }
        public DeviceBuffer? Counters { get; init; }

        public override void Dispose()
        {
            Counters?.Dispose();
            Partial?.Dispose();
        }
    }
}
