using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class GroupGemmCuda : GroupGemm
{
    internal const string Source = "moe/group_gemm.cu";
    internal const string WgmmaSource = "moe/group_gemm_wgmma.cu";
    internal const string StreamSource = "moe/group_gemm_stream.cu";
    internal const string TmaSource = "moe/group_gemm_tma.cu";
    internal const int TileN = 64;
    private const uint Threads = 128;

    /// <summary>Per-channel formats fold their scale once, at the end of K: a group larger than any K.</summary>
    internal const int PerChannelGroup = 1 << 30;

    /// <summary>The group argument of every group-GEMM kernel: the one place GroupSize becomes the kernels' int.</summary>
    internal static int KernelGroup(ExpertWeights w) => w.IsGrouped ? w.GroupSize.Size : PerChannelGroup;

    private readonly CudaDevice _device;

    public GroupGemmCuda(CudaDevice device)
    {
        _device = device;
        // Made now, at load time, so that BeginCapture allocates the capturing stream's scratch before a capture.
        _ = device.SplitK;
    }

    private CudaKernel Kernel(string name, int dynamicSharedBytes = 0, string source = Source)
    {
        var k = _device.GetKernel(source, name);
        // Idempotent: the driver is asked once, when the limit first rises (normally at warm-up, before capture).
        if (dynamicSharedBytes > 48 * 1024) k.EnsureDynamicSharedMemory(dynamicSharedBytes);
        return k;
    }

    internal static int WeightMode(ExpertWeightFormat f) => f switch
    {
        ExpertWeightFormat.Half => 0,
        ExpertWeightFormat.Int8PerChannel => 1,
        ExpertWeightFormat.Int4PerChannel or ExpertWeightFormat.Int4Group => 2,
        _ => 3,
    };

    /// <summary>
    /// M tile: 16 rows when experts see few rows (memory-bound: each hit expert's weights stream once),
    /// 64 when they see many (the weight tile is reused across 64 rows).
    /// </summary>
    internal static int TileM(GroupGemmProblem p)
    {
        long rowsPerExpert = p.Layout == TokenLayout.PrefixSum ? p.RowsBound / Math.Max(1, p.Experts) : p.RowsBound / 8;
        return rowsPerExpert >= 48 ? 64 : 16;
    }

    /// <summary>
    /// K tile: 128 at BM = 16 (the memory-bound case: twice the weight bytes in flight per block, which
    /// the few blocks of a small n need to approach full bandwidth), 64 at BM = 64 (registers go to the
    /// larger accumulator tile). A K tile must not span two scale groups, so grouped weights use 128 only
    /// when it divides the group size.
    /// </summary>
    internal static int TileK(ExpertWeightFormat f, GroupSize groupSize, int tileM)
    {
        bool grouped = f is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup;
        return tileM == 16 && (!grouped || groupSize.Size % 128 == 0) ? 128 : 64;
    }

    /// <summary>Upper bound on the M tiles of all experts together, from host bounds only.</summary>
    internal static long TileBound(GroupGemmProblem p, int tileM)
    {
        long perExpert = (p.RowsBound + tileM - 1) / tileM;
        return p.Layout == TokenLayout.PrefixSum
            ? Math.Min(perExpert + p.Experts, perExpert * p.Experts)
            : perExpert * p.Experts;
    }

    /// <summary>
    /// A configuration of the pipelined kernel (group_gemm_pipe): BM x BN tiles of C, K tiles of BK through
    /// a ring of <paramref name="Stages"/> cp.async stages, WM x WN warps, integer weights decoded
    /// <paramref name="SliceK"/> columns at a time, registers capped for <paramref name="MinBlocks"/> blocks per SM.
    /// </summary>
    internal readonly record struct PipeConfig(int TileM, int TileN, int TileK, int SliceK, int Stages, int WarpsM, int WarpsN, int MinBlocks)
    {
        public int Threads => 32 * WarpsM * WarpsN;

        /// <summary>Dynamic shared memory in bytes; the same sum as gp_smem in group_gemm_core.cuh.</summary>
        public int SharedBytes(ExpertWeightFormat f)
        {
            const int pad = 8;
            int aStage = TileM * (TileK + pad) * 2;
            int wRow = f == ExpertWeightFormat.Half ? (TileK + pad) * 2 : f == ExpertWeightFormat.Int8PerChannel ? TileK : TileK / 2;
            int decoded = f == ExpertWeightFormat.Half ? 0 : TileN * (SliceK + pad) * 2;
            return Stages * (aStage + TileN * wRow) + decoded;
        }

        public bool Fits(GroupGemmProblem p, ExpertWeights w) =>
            TileK >= 32 && p.K % TileK == 0 && TileK % SliceK == 0 && (!w.IsGrouped || w.GroupSize.Size % SliceK == 0);

        /// <summary>This configuration, or the nearest with a smaller K tile / slice that the shape allows.</summary>
        public PipeConfig? FitTo(GroupGemmProblem p, ExpertWeights w)
        {
            var c = this;
            while (c.TileK >= 32)
            {
                if (c.Fits(p, w)) return c;
                if (w.IsGrouped && w.GroupSize.Size % c.SliceK != 0 && c.SliceK > 64) c = c with { SliceK = c.SliceK / 2 };
                else c = c with { TileK = c.TileK / 2, SliceK = Math.Min(c.SliceK, c.TileK / 2) };
            }
            return null;
        }
    }

    /// <summary>Rows per expert the launcher plans for: the average for prefix sums (the per-expert split is
    /// only known on the device), P / 8 for padded slabs (P is the step's padded token count).</summary>
    internal static long RowsPerExpert(GroupGemmProblem p) =>
        p.Layout == TokenLayout.PrefixSum ? p.RowsBound / Math.Max(1, p.Experts) : p.RowsBound / 8;

    /// <summary>
    /// The pipelined configuration for a problem, or null for the register-staged tile (half weights at few
    /// rows, where it measured as fast or faster, and shapes the pipeline cannot take). Chosen from A/B runs
    /// on the H200 at the ERNIE gate/up shape (docs/moe.md has the numbers).
    /// Each weight row contributes 128-256 contiguous bytes per stage: shorter pieces of many rows cost DRAM
    /// efficiency. Many rows (compute-bound): 128 x 128 tiles, 64 x 32 per warp; half weights with registers
    /// capped for two blocks per SM (1.4x faster than one block of more registers), integer weights decoded
    /// 128 columns at a time. Tens of rows (memory-bound): 64-row tiles, one per expert, the weights
    /// streamed once. Few rows with integer weights: 16 x 128 tiles of 8 warps; the decode runs once per
    /// block and weight element. A pure function of the problem's host-side shape, so the launcher tests
    /// enumerate every configuration it can return.
    /// </summary>
    internal static PipeConfig? Pipe(GroupGemmProblem p, ExpertWeights w)
    {
        long rpe = RowsPerExpert(p);
        var f = w.Format;
        PipeConfig? c;
        if (rpe >= 96)
            c = f == ExpertWeightFormat.Half
                ? new PipeConfig(128, 128, 64, 64, 3, 2, 4, 2)
                : new PipeConfig(128, 128, 128, 128, 3, 2, 4, 1);
        else if (rpe >= 24)
            c = f switch
            {
                ExpertWeightFormat.Half => new PipeConfig(64, 64, 128, 128, 3, 2, 2, 2),
                ExpertWeightFormat.Int8PerChannel => new PipeConfig(64, 64, 128, 128, 3, 2, 2, 2),
                _ => new PipeConfig(64, 128, 256, 128, 3, 2, 4, 1),
            };
        else
            c = f switch
            {
                ExpertWeightFormat.Half => null,
                ExpertWeightFormat.Int8PerChannel => new PipeConfig(16, 128, 128, 128, 3, 1, 8, 2),
                _ => new PipeConfig(16, 128, 256, 128, 3, 1, 8, 1),
            };
        return c?.FitTo(p, w);
    }

    /// <summary>
    /// A configuration of the Hopper kernel (group_gemm_wgmma.cu): <paramref name="TileM"/> rows (64 per warpgroup)
    /// x <paramref name="TileN"/> columns (128 or 256), K tiles of 64 through a ring of <paramref name="Stages"/> cp.async stages.
    /// </summary>
    internal readonly record struct WgmmaConfig(int TileM, int TileN, int Stages)
    {
        public int Threads => 2 * TileM;

        /// <summary>Dynamic shared memory in bytes: the ring of A and W tiles (128-byte rows) and 1 KiB to align it.</summary>
        public int SharedBytes => Stages * (TileM + TileN) * 128 + 1024;
    }

    /// <summary>
    /// The wgmma configuration for a problem on this GPU, or null where it does not apply: on sm_90 only (wgmma is
    /// sm_90a), half weights only. Chosen from A/B runs on the H200 at the ERNIE gate/up shape (docs/moe.md has the numbers).
    /// K a multiple of 8 (16-byte rows): from 48 rows per expert the TMA kernel (<see cref="Tma"/>) runs
    /// instead; what this rule gives there (hundreds of rows per expert: 128 x 256 tiles, two warpgroups sharing each
    /// weight tile, four stages, a quarter less L2 traffic than 128 x 128, which ncu showed to be the limit at 84% busy)
    /// is what the bench's A/B compares it with. Fewer rows: 64 x 128 tiles of one warpgroup, four
    /// stages, two blocks per SM; at one to sixteen tokens it streams the hit experts' weights as fast as the
    /// register-staged tile, at 128 tokens 7% faster.
    /// Integer codes had a decoding form of this kernel (int8 per channel, 24 to 47 rows per expert); the TMA kernel
    /// measured faster on both sides of that range on the H200 at 297ba5a (ERNIE gate/up, wint8: 247 against 312 us at 12
    /// rows per expert, 261 against 373 at 48), so it was removed and integer codes take the TMA kernel from 12 rows.
    /// A pure function of the problem's host-side shape and the compute capability.
    /// </summary>
    internal static WgmmaConfig? Wgmma(GroupGemmProblem p, ExpertWeights w, int computeMajor, int computeMinor)
    {
        if (computeMajor != 9 || computeMinor != 0) return null;
        long rpe = RowsPerExpert(p);
        if (w.Format != ExpertWeightFormat.Half || p.K % 8 != 0) return null;
        return rpe >= 96 ? new WgmmaConfig(128, 256, 4) : new WgmmaConfig(64, 128, 4);
    }

    /// <summary>
    /// A configuration of the TMA warp-specialised persistent Hopper kernels (group_gemm_tma.cu): tiles of 128 rows x
    /// <paramref name="TileN"/> weight rows, a ring of <paramref name="Stages"/> K tiles of 64, one CTA per SM; for integer
    /// <paramref name="Format"/>s group_gemm_tma_int, whose ring holds the raw codes and which decodes them into two tiles
    /// of the activation type.
    /// </summary>
    internal readonly record struct TmaConfig(int TileN, int Stages, ExpertWeightFormat Format = ExpertWeightFormat.Half)
    {
        public const int TileM = 128, Threads = 384;

        /// <summary>Integer codes (group_gemm_tma_int).</summary>
        public bool Integer => Format != ExpertWeightFormat.Half;

        /// <summary>Scales per group of K (int4 in groups): a partial sum beside the total, so 128 weight rows at most.</summary>
        public bool Grouped => Format == ExpertWeightFormat.Int4Group;

        /// <summary>Code bytes of one weight row in one 64-wide K tile: the inner extent of the codes' TMA box.</summary>
        public int CodeBytesPerRow => Format == ExpertWeightFormat.Int8PerChannel ? 64 : 32;

        /// <summary>
        /// Dynamic shared memory in bytes, the sums of gt_smem / gti_smem: the ring of A and weight tiles (128-byte rows;
        /// for integer codes the raw codes' rows instead, beside two decoded 128-byte-row tiles), a full and an empty
        /// mbarrier per stage, 1 KiB to align the ring.
        /// </summary>
        public int SharedBytes => Integer
            ? 2 * TileN * 128 + Stages * (TileM * 128 + TileN * CodeBytesPerRow) + 2 * Stages * 8 + 1024
            : Stages * (TileM + TileN) * 128 + 2 * Stages * 8 + 1024;
    }

    /// <summary>
    /// For the bench's A/B of the Hopper kernels only (bench/KernelSuite.cs): on this thread while set, a TMA
    /// configuration replaces the rule's for the weights of its format at any rows where the shape allows its kernel, and <see cref="ForceCpAsync"/> takes the TMA kernels out of the
    /// rule, so every format runs what it ran before them (the cp.async wgmma kernels, or the pipelined tiles for int4).
    /// Never set by the engine.
    /// </summary>
    [ThreadStatic] internal static TmaConfig? TmaOverride;

    /// <summary>See <see cref="TmaOverride"/>.</summary>
    [ThreadStatic] internal static bool ForceCpAsync;

    /// <summary>For the bench's A/B of the weight-streaming kernel's split rule only: on this thread while positive, the
    /// K splits of every <see cref="Stream"/> launch (within what its slices and scratch allow). Never set by the engine.</summary>
    [ThreadStatic] internal static int StreamSplitsOverride;

    /// <summary>
    /// <paramref name="body"/> with <see cref="ForceCpAsync"/> set on this thread, the flag restored after: the kernels the
    /// bench's "[cp.async wgmma]" and "[pipelined]" rows time, for the check's cases of them.
    /// </summary>
    internal static T WithoutTma<T>(Func<T> body)
    {
        bool was = ForceCpAsync;
        ForceCpAsync = true;
        try { return body(); }
        finally { ForceCpAsync = was; }
    }

    /// <summary>Rows per expert from which integer codes per channel take the TMA kernel on sm_90. The bench's forced rows
    /// (moe_gemm "wint8 [tma]", "wint4 [tma]") on the H200 at 297ba5a, ERNIE gate/up: at 12 rows per expert (128 tokens)
    /// 247 against 312 us (int8) and 229 against 261 (int4) for the kernels before it; at 1.5 (16 tokens) the same.</summary>
    internal const int TmaPerChannelRows = 12;

    /// <summary>Rows per expert from which int4 in groups takes the TMA kernel on sm_90: its partial sums beside the totals
    /// halve its tile, and at 12 rows per expert it measured 570 against 298 us for the pipelined tiles (297ba5a); at 48
    /// the two measured alike (536 against 543 at 9d79379), at 192 it is faster (1224 against 1449).</summary>
    internal const int TmaGroupedRows = 48;

    /// <summary>
    /// The TMA configuration for a problem on this GPU, or null where the rule picks another kernel. sm_90 only, from
    /// 48 rows per expert (integer codes per channel from <see cref="TmaPerChannelRows"/>).
    /// Half weights, K a multiple of 8 (the TMA's 16-byte strides): 128 x 256 tiles, four stages. Measured at the ERNIE
    /// gate/up shape on the H200 against the cp.async wgmma tiles (docs/moe.md): 5-8% faster at 512 tokens (48 rows per
    /// expert), 12-19% at 2048 (192); at 128 (12) 5% faster alone but no faster in the step (SwiGLU-fused gate/up
    /// 269 against 261 us, down 132 against 137), slower at 16 (1.5): below 48 the 64 x 128 tiles stay.
    /// Integer codes: int8 and int4 per channel at 128 x 256 x 4 (the scale
    /// multiplies the finished sum, so the accumulators are the half kernel's), int4 in groups at 128 x 128 x 4 (a partial
    /// sum per group beside the total). The codes' rows must be 16-byte multiples (K % 16 for int8, K % 32 for int4), and
    /// groups multiples of 64 (each K tile inside one group; a group dividing K then makes K a multiple of 64). What they
    /// replace there: the decoding wgmma kernel for int8 (1185.7 us at 2048 ERNIE tokens against a 242.7 us floor, 386.9
    /// at 512 against 130.1; removed since), the pipelined tiles for int4. A pure function of the host-side shape and
    /// compute capability.
    /// </summary>
    internal static TmaConfig? Tma(GroupGemmProblem p, ExpertWeights w, int computeMajor, int computeMinor)
    {
        if (computeMajor != 9 || computeMinor != 0 || ForceCpAsync) return null;
        // A forced configuration (the bench's A/B) applies at any rows, where the shape allows its kernel.
        TmaConfig? forced = TmaOverride is { } f && f.Format == w.Format ? f : null;
        int from = w.Format switch
        {
            ExpertWeightFormat.Int8PerChannel or ExpertWeightFormat.Int4PerChannel => TmaPerChannelRows,
            ExpertWeightFormat.Int4Group => TmaGroupedRows,
            _ => 48,
        };
        bool many = forced is not null || RowsPerExpert(p) >= from;
        TmaConfig? c = w.Format switch
        {
            ExpertWeightFormat.Half when p.K % 8 == 0 && many => new TmaConfig(256, 4),
            ExpertWeightFormat.Int8PerChannel when p.K % 16 == 0 && many => new TmaConfig(256, 4, w.Format),
            ExpertWeightFormat.Int4PerChannel when p.K % 32 == 0 && many => new TmaConfig(256, 4, w.Format),
            ExpertWeightFormat.Int4Group when w.GroupSize.Size % 64 == 0 && p.K % w.GroupSize.Size == 0 && many
                => new TmaConfig(128, 4, w.Format),
            _ => null,
        };
        return c is not null && forced is not null ? forced : c;
    }

    private static string TmaName(string type, GroupGemmProblem p, TmaConfig c) => c.Integer
        ? $"group_gemm_tma_int<{type}, {WeightMode(c.Format)}, {(c.Grouped ? 1 : 0)}, {c.TileN}, {c.Stages}{EpilogueArgument(p)}>"
        : $"group_gemm_tma<{type}, {c.TileN}, {c.Stages}{EpilogueArgument(p)}>";

    /// <summary>
    /// The kernels' last template argument, SWIGLU, when the epilogue is fused; nothing otherwise, so the plain
    /// instances keep the names (and cubin cache entries) they had before the epilogue existed.
    /// </summary>
    private static string EpilogueArgument(GroupGemmProblem p) => p.Epilogue == GroupGemmEpilogue.SwiGlu ? ", 1" : "";

    private static string WgmmaName(string type, GroupGemmProblem p, WgmmaConfig c) =>
        $"group_gemm_wgmma<{type}, {c.TileM}, {c.TileN}, {c.Stages}{EpilogueArgument(p)}>";

    private static string PipeName(string type, GroupGemmProblem p, ExpertWeights w, PipeConfig c) =>
        $"group_gemm_pipe<{type}, {WeightMode(w.Format)}, {(w.IsGrouped ? 1 : 0)}, {c.TileM}, {c.TileN}, {c.TileK}, {c.SliceK}, {c.Stages}, {c.WarpsM}, {c.WarpsN}, {c.MinBlocks}{EpilogueArgument(p)}>";

    private static string TileName(string type, GroupGemmProblem p, ExpertWeights w, int bm, int bk) =>
        $"group_gemm<{type}, {WeightMode(w.Format)}, {bm}, {bk}{EpilogueArgument(p)}>";

    /// <summary>Token rows per M tile of the weight-streaming kernel (the MMA's n8 side): it is chosen up to this many rows per expert.</summary>
    internal const int StreamRows = 8;

    /// <summary>
    /// A launch of the weight-streaming kernel (group_gemm_stream.cu): blocks of 4 warps on 32 weight rows and one K slice
    /// of <paramref name="KBlocksPerSplit"/> K blocks of <paramref name="KBlock"/> elements; grid (column blocks x
    /// <paramref name="Splits"/>, <paramref name="Tiles"/> M tiles of <paramref name="Rows"/> rows).
    /// </summary>
    internal readonly record struct StreamConfig(int Rows, int KBlock, int Splits, int KBlocksPerSplit, int ColumnBlocks, int Tiles, int Depth = 2)
    {
        public const int Threads = 128;
        public const int WeightRows = 32;
        /// <summary>fp32 sums a block hands to the reduction (2 tiles x 4 accumulators x 32 lanes).</summary>
        public const int SlotsPerBlock = 256;

        /// <summary>Bytes of shared memory before the staged rows: the warps' sums (4 x 256 fp32) and the ticket verdict.</summary>
        public const int HeadBytes = 4 * SlotsPerBlock * 4 + 16;

        /// <summary>At most this much shared memory per block: over 48 KiB it is opted in, and three blocks still fit an SM.</summary>
        public const int MaxSharedBytes = 64 * 1024;

        /// <summary>Dynamic shared memory, the same sum as gs_smem_bytes: the head, then the staged activation rows of one
        /// slice, each 8 halves longer than the slice (bank spread).</summary>
        public int SharedBytes => HeadBytes + Rows * (KBlocksPerSplit * KBlock + 8) * 2;

        public long Blocks => (long)ColumnBlocks * Tiles;

        /// <summary>Split-K scratch this launch uses: none with one split.</summary>
        public long PartialFloats => Splits > 1 ? Blocks * Splits * SlotsPerBlock : 0;
    }

    /// <summary>K elements per K block and the K multiple that keeps every 16-byte chunk inside or outside K, or null for
    /// a format the kernel does not read (wi4a16's zero points; groups that a 128-wide K block would span).</summary>
    private static (int KBlock, int KMultiple)? StreamFormat(ExpertWeights w) => w.Format switch
    {
        ExpertWeightFormat.Half => (64, 8),
        ExpertWeightFormat.Int8PerChannel => (128, 16),
        ExpertWeightFormat.Int4PerChannel => (128, 32),
        ExpertWeightFormat.Int4Group when w.GroupSize.Size % 128 == 0 => (128, 32),
        _ => null,
    };

    /// <summary>
    /// The weight-streaming configuration for a problem, or null where it does not apply: at most
    /// <see cref="StreamRows"/> rows per expert bound (<see cref="RowsPerExpert"/>), sm_80 or later (bf16 mma.sync), a
    /// format it reads, K a multiple of 8 (half), 16 (int8) or 32 (int4) so every 16-byte load is wholly inside or
    /// outside K, and one expert's weights under 4 GiB (a lane addresses its rows by 32-bit offsets); other shapes keep
    /// the kernels below.
    /// Why: at n = 1 on the H200 (ERNIE gate/up, E = 64, N = 3072, K = 2560, top-6: 6 experts hit) the wgmma tile took
    /// 44.2 us against a 23.4 us floor (the hit experts' bytes at 4.05 TB/s): 24 column blocks x 6 experts = 144 equal
    /// blocks on 132 SMs, two waves; wint8 was 7.5x and wint4 g128 13.5x their floors there, and 2.5x / 4.6x at
    /// n = 16 (docs/moe.md). Here a block is 32 weight rows of one K slice, so the grid is column blocks x splits x
    /// M tiles: K is split until there are about 8 blocks per SM, each split keeping at least five K blocks per warp (20
    /// per block), and at least as far as the block's shared memory (the staged activations) needs to stay within 64 KiB:
    /// K up to 3776 (half) or 3712 (integer) fits one slice. Five, from the bench's forced splits on the H200 at 4b55ee3
    /// (bf16, n = 1): the down projection (24 K blocks) took 27.4 us in 3 splits (two K blocks per warp, the rule's at
    /// eight per block), 23.5 in 2 and 17.9 in 1 (floor 11.4); gate/up (40 K blocks) 35.7 in 2 (five per warp), 42.5 in 1,
    /// 43.4 in 4 (floor 22.7). Too few K blocks per warp leave the block's prologue (finding its tile, staging the rows)
    /// and its split-K epilogue unamortised; too few blocks leave SMs idle.
    /// Split sums go through the stream's fixed <see cref="SplitKScratch"/>; a launch that would not fit drops to the
    /// fewest splits its slices allow, one when K fits one slice, and to the other kernels when that still does not
    /// fit (a pure function of the shape: large K at thousands of tiles). Tiles are bounded by the rows themselves
    /// (each real tile holds a row), so a step at n = 1 launches 6 tiles, not one per expert. With the SwiGLU epilogue a
    /// block's 32 weight rows are 16 gate rows and their 16 up rows, so the column blocks are the same count.
    /// </summary>
    /// <summary>
    /// Half weights on sm_90 where the wgmma kernel's 64 x 128 blocks (one per hit expert and 128 columns; at most
    /// min(E, rows) experts are hit) give every SM two: it streams them at the floor there, and this kernel does not. On
    /// the H200 at d781d1b (ERNIE gate/up): n = 16 took 289 us here against 200 us (1.01x the floor) for the wgmma tile at
    /// 215f519; n = 1 (6 rows, 144 blocks) 35.3 us here against 44.2.
    /// </summary>
    private static bool WgmmaCoversSms(GroupGemmProblem p, ExpertWeights w, LaunchTarget target) =>
        w.Format == ExpertWeightFormat.Half && Wgmma(p, w, target.ComputeMajor, target.ComputeMinor) is not null
        && (long)Math.Min(p.Experts, p.RowsBound) * ((p.N + 127) / 128) >= 2L * target.SmCount;

    /// <summary>Bytes of one expert's N x K weights in the streaming kernel's formats (its row offsets are 32-bit).</summary>
    internal static long ExpertWeightBytes(ExpertWeightFormat f, int n, int k) =>
        (long)n * (f == ExpertWeightFormat.Half ? 2L * k : f == ExpertWeightFormat.Int8PerChannel ? k : k / 2);

    internal static StreamConfig? Stream(GroupGemmProblem p, ExpertWeights w, LaunchTarget target)
    {
        if (target.ComputeMajor < 8 || RowsPerExpert(p) > StreamRows) return null;
        if (StreamFormat(w) is not { } format || p.K % format.KMultiple != 0) return null;
        if (ExpertWeightBytes(w.Format, p.N, p.K) > uint.MaxValue) return null;   // the kernel's 32-bit row offsets
        if (WgmmaCoversSms(p, w, target)) return null;
        int kBlock = format.KBlock;
        long perExpert = ((long)p.RowsBound + StreamRows - 1) / StreamRows;
        long tiles = Math.Max(1, p.Layout == TokenLayout.PrefixSum ? Math.Min(perExpert + p.Experts, p.RowsBound) : perExpert * p.Experts);
        if (tiles > 65535) return null;
        int columnBlocks = (p.N + StreamConfig.WeightRows - 1) / StreamConfig.WeightRows;
        int kBlocks = (p.K + kBlock - 1) / kBlock;
        const int blocksPerSm = 8, kBlocksPerSplit = 20;
        int maxSlice = ((StreamConfig.MaxSharedBytes - StreamConfig.HeadBytes) / (2 * StreamRows) - 8) / kBlock;
        int minSplits = (kBlocks + maxSlice - 1) / maxSlice;
        long blocks = tiles * columnBlocks;
        long wanted = (blocksPerSm * (long)target.SmCount + blocks - 1) / blocks;
        int splits = (int)Math.Max(minSplits, Math.Min(wanted, kBlocks / kBlocksPerSplit));
        if (StreamSplitsOverride > 0) splits = Math.Clamp(StreamSplitsOverride, minSplits, kBlocks);
        var c = Split(splits);
        if (c.Splits > 1 && !FitsScratch(c)) c = Split(minSplits);
        if (c.Splits > 1 && !FitsScratch(c)) return null;
        return c with { Depth = StreamDepth(w.Format, c.Blocks * c.Splits, target.SmCount) };

        StreamConfig Split(int s)
        {
            int per = (kBlocks + Math.Max(1, s) - 1) / Math.Max(1, s);
            return new StreamConfig(StreamRows, kBlock, (kBlocks + per - 1) / per, per, columnBlocks, (int)tiles);
        }
        static bool FitsScratch(StreamConfig c) => c.Blocks <= SplitKScratch.Tickets && c.PartialFloats <= SplitKScratch.PartialFloats;
    }

    /// <summary>Most blocks an SM of a launch that takes the streaming kernel's three-deep instance: the two-deep one
    /// holds five an SM (ncu, 96 registers a lane); the third K block costs 32 more registers a lane, so at most four
    /// are assumed (the three-deep instance's own count was not measured).</summary>
    internal const int StreamDeepBlocksPerSm = 4;

    /// <summary>
    /// K blocks of weights a warp of the streaming kernel keeps in flight: 3 for half weights when the whole grid fits
    /// one wave at <see cref="StreamDeepBlocksPerSm"/> blocks an SM, else 2. A grid under one wave leaves slots free, and
    /// a third K block in flight per warp is more bytes in flight per SM; a grid of several waves loses more to the fifth
    /// block an SM the extra registers cost. H200, ERNIE-4.5 at one token, b85af45 + this rule, two runs each: the down
    /// projection (480 blocks) 17.9 -> 17.0 us a layer and the step's busy time 2.823 -> 2.794 ms; the three-deep
    /// instance on gate/up too (1152 blocks) took that kernel from 33.0 to 38.2 us. Integer weights stay at 2: their
    /// decode, not the loads in flight, bounds them (ncu, docs/moe.md).
    /// </summary>
    internal static int StreamDepth(ExpertWeightFormat format, long blocks, int smCount) =>
        format == ExpertWeightFormat.Half && blocks <= (long)StreamDeepBlocksPerSm * smCount ? 3 : 2;

    private static string StreamName(string type, GroupGemmProblem p, ExpertWeights w, StreamConfig c) =>
        $"group_gemm_stream<{type}, {WeightMode(w.Format)}, {(w.IsGrouped ? 1 : 0)}, {c.Rows}, {(p.Epilogue == GroupGemmEpilogue.SwiGlu ? 1 : 0)}" +
        (c.Depth == 2 ? ">" : $", {c.Depth}>");

    /// <summary>
    /// The kernel <see cref="RunCore"/> launches for a problem on <paramref name="target"/>, with <paramref name="type"/>
    /// as the element type: the weight-streaming kernel at few rows per expert, else the TMA kernels where they apply, else the wgmma kernel where it applies,
    /// else the pipelined one, else the register-staged tile. The epilogue picks the SWIGLU instance of the same
    /// kernel and tile: every one fuses it (its N / 2 gate and up row pairs per block cost the same loads and MMAs as N
    /// plain columns), so the rule measured without it stands.
    /// </summary>
    internal static string KernelName(string type, GroupGemmProblem p, ExpertWeights w, LaunchTarget target)
    {
        if (Stream(p, w, target) is { } sc) return StreamName(type, p, w, sc);
        if (Tma(p, w, target.ComputeMajor, target.ComputeMinor) is { } tc) return TmaName(type, p, tc);
        if (Wgmma(p, w, target.ComputeMajor, target.ComputeMinor) is { } wc) return WgmmaName(type, p, wc);
        if (Pipe(p, w) is { } cfg) return PipeName(type, p, w, cfg);
        int bm = TileM(p);
        return TileName(type, p, w, bm, TileK(w.Format, w.GroupSize, bm));
    }

    protected override void RunCore(ComputeStream stream, GroupGemmProblem p, ExpertWeights w)
    {
        var info = _device.Info;
        string type = p.A.DType.CudaTypeName();
        if (Stream(p, w, _device.LaunchTarget) is { } sc)
        {
            LaunchStream(Kernel(StreamName(type, p, w, sc), sc.SharedBytes, StreamSource), (CudaStream)stream, p, w, sc);
            return;
        }
        if (Tma(p, w, info.ComputeMajor, info.ComputeMinor) is { } tc)
        {
            LaunchTma(Kernel(TmaName(type, p, tc), tc.SharedBytes, TmaSource), (CudaStream)stream, p, w, tc);
            return;
        }
        if (Wgmma(p, w, info.ComputeMajor, info.ComputeMinor) is { } wc)
        {
            var k = Kernel(WgmmaName(type, p, wc), wc.SharedBytes, WgmmaSource);
            Launch(k, stream, p, w, wc.TileN, MTiles(p, wc.TileM), wc.Threads, wc.SharedBytes);
            return;
        }
        if (Pipe(p, w) is { } cfg)
        {
            int smem = cfg.SharedBytes(w.Format);
            Launch(Kernel(PipeName(type, p, w, cfg), smem), stream, p, w, cfg.TileN, MTiles(p, cfg.TileM), cfg.Threads, smem);
            return;
        }
        int bm = TileM(p);
        var kernel = Kernel(TileName(type, p, w, bm, TileK(w.Format, w.GroupSize, bm)));
        Launch(kernel, stream, p, w, TileN, MTiles(p, bm), (int)Threads, sharedBytes: 0);
    }

    /// <summary>The group-GEMM arguments, then the split-K scratch (null pointers with one split), the split count and the K blocks per split.</summary>
    private void LaunchStream(CudaKernel kernel, CudaStream stream, GroupGemmProblem p, ExpertWeights w, StreamConfig c)
    {
        ulong pa = p.A.Ptr.Address, pw = w.Weights.Ptr.Address, ps = w.Scales.IsEmpty ? 0 : w.Scales.Ptr.Address,
              po = p.Offsets.Ptr.Address, pc = p.C.Ptr.Address, partials = 0, tickets = 0;
        if (c.Splits > 1)
        {
            var (pp, pt) = _device.SplitK.For(stream);
            partials = pp.Address;
            tickets = pt.Address;
        }
        int experts = p.Experts, n = p.N, k = p.K;
        int group = KernelGroup(w), groups = w.Groups;
        int padded = p.Layout == TokenLayout.Padded ? p.RowsBound : 0;
        int splits = c.Splits, perSplit = c.KBlocksPerSplit;
        void** args = stackalloc void*[] { &pa, &pw, &ps, &po, &pc, &experts, &n, &k, &group, &groups, &padded, &partials, &tickets, &splits, &perSplit };
        kernel.Launch(stream, new Dim3((uint)(c.ColumnBlocks * c.Splits), (uint)c.Tiles), new Dim3(StreamConfig.Threads), (uint)c.SharedBytes, args, dependent: true);
    }

    /// <summary>
    /// The TMA kernels' arguments: tensor maps of A ([rows, K], boxes of 128 rows) and of the expert weights ([E, N, K]
    /// halfs, boxes of TileN / 2 rows; for integer codes [E, N, code bytes per row] bytes, boxes of one K tile's codes),
    /// for integer codes the scales, then offsets, C, experts, N, K, for integer codes the group size and groups, the
    /// padded rows, then the column blocks and the bound on output tiles the persistent CTAs walk (one per SM, fewer when
    /// there are fewer tiles).
    /// </summary>
    private void LaunchTma(CudaKernel kernel, CudaStream stream, GroupGemmProblem p, ExpertWeights w, TmaConfig c)
    {
        long aRows = p.A.ElementCount / p.K;
        var aMap = TensorMap.Swizzled128(p.A.DType, p.A.Ptr, stackalloc ulong[] { (ulong)p.K, (ulong)aRows }, stackalloc uint[] { 64, TmaConfig.TileM });
        // int4 packs two codes a byte along K.
        ulong rowBytes = c.Format == ExpertWeightFormat.Int8PerChannel ? (ulong)p.K : (ulong)p.K / 2;
        var wMap = c.Integer
            ? TensorMap.BytesTiled(w.Weights.Ptr, stackalloc ulong[] { rowBytes, (ulong)p.N, (ulong)p.Experts },
                stackalloc uint[] { (uint)c.CodeBytesPerRow, (uint)(c.TileN / 2), 1 })
            : TensorMap.Swizzled128(w.Weights.DType, w.Weights.Ptr, stackalloc ulong[] { (ulong)p.K, (ulong)p.N, (ulong)p.Experts },
                stackalloc uint[] { 64, (uint)(c.TileN / 2), 1 });
        int columnsPerBlock = p.Epilogue == GroupGemmEpilogue.SwiGlu ? c.TileN / 2 : c.TileN;
        int columnBlocks = (p.OutputColumns + columnsPerBlock - 1) / columnsPerBlock;
        long bound = TileBound(p, TmaConfig.TileM) * columnBlocks;
        if (bound > int.MaxValue)
            throw new ArgumentException($"group GEMM needs {bound} output tiles (rows bound {p.RowsBound}, {p.Experts} experts), above {int.MaxValue}", nameof(p));
        ulong ps = w.Scales.IsEmpty ? 0 : w.Scales.Ptr.Address, po = p.Offsets.Ptr.Address, pc = p.C.Ptr.Address;
        int experts = p.Experts, n = p.N, k = p.K, tiles = (int)bound;
        int group = KernelGroup(w), groups = w.Groups;
        int padded = p.Layout == TokenLayout.Padded ? p.RowsBound : 0;
        var grid = new Dim3((uint)Math.Min(_device.Info.SmCount, tiles));
        if (c.Integer)
        {
            void** args = stackalloc void*[] { &aMap, &wMap, &ps, &po, &pc, &experts, &n, &k, &group, &groups, &padded, &columnBlocks, &tiles };
            kernel.Launch(stream, grid, new Dim3(TmaConfig.Threads), (uint)c.SharedBytes, args);
        }
        else
        {
            void** args = stackalloc void*[] { &aMap, &wMap, &po, &pc, &experts, &n, &k, &padded, &columnBlocks, &tiles };
            kernel.Launch(stream, grid, new Dim3(TmaConfig.Threads), (uint)c.SharedBytes, args);
        }
    }

    /// <summary>M tiles of <paramref name="bm"/> rows the grid covers; its y dimension holds at most 65535.</summary>
    private static uint MTiles(GroupGemmProblem p, int bm)
    {
        long tiles = TileBound(p, bm);
        if (tiles > 65535)
            throw new ArgumentException($"group GEMM needs {tiles} M tiles (rows bound {p.RowsBound}, {p.Experts} experts), above the grid's 65535", nameof(p));
        return (uint)tiles;
    }

    /// <summary>
    /// Every group-GEMM variant takes the same arguments (A, W, scales, offsets, C, experts, N, K, group,
    /// groups, padded rows) on a grid of (C's columns / C columns per block, M tiles); only the tile shape differs.
    /// A block of <paramref name="tileN"/> weight rows writes tileN columns of C, or tileN / 2 with the SwiGLU epilogue.
    /// </summary>
    private static void Launch(CudaKernel kernel, ComputeStream stream, GroupGemmProblem p, ExpertWeights w,
                               int tileN, uint mTiles, int threads, int sharedBytes)
    {
        int columnsPerBlock = p.Epilogue == GroupGemmEpilogue.SwiGlu ? tileN / 2 : tileN, columns = p.OutputColumns;
        ulong pa = p.A.Ptr.Address, pw = w.Weights.Ptr.Address, ps = w.Scales.IsEmpty ? 0 : w.Scales.Ptr.Address,
              po = p.Offsets.Ptr.Address, pc = p.C.Ptr.Address;
        int experts = p.Experts, n = p.N, k = p.K;
        int group = KernelGroup(w), groups = w.Groups;
        int padded = p.Layout == TokenLayout.Padded ? p.RowsBound : 0;
        void** args = stackalloc void*[] { &pa, &pw, &ps, &po, &pc, &experts, &n, &k, &group, &groups, &padded };
        kernel.Launch((CudaStream)stream, new Dim3((uint)((columns + columnsPerBlock - 1) / columnsPerBlock), mTiles),
            new Dim3((uint)threads), (uint)sharedBytes, args);
    }

    protected override void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights dst)
    {
        var kernel = Kernel($"quantize_experts<{source.DType.CudaTypeName()}>");
        long rows = source.Dim(0) * source.Dim(1);
        int k = (int)source.Dim(2);
        int group = dst.IsGrouped ? dst.GroupSize.Size : k, groups = dst.Groups;
        int qmax = ExpertWeightMath.QMax(dst.Format), int8 = dst.Format == ExpertWeightFormat.Int8PerChannel ? 1 : 0, zero = 0;
        ulong pw = source.Ptr.Address, pq = dst.Weights.Ptr.Address, ps = dst.Scales.Ptr.Address, pz = 0;
        LaunchQuantize(kernel, (CudaStream)stream, pw, pq, ps, pz, rows, k, group, groups, qmax, int8, zero);
    }

    internal static void LaunchQuantize(CudaKernel kernel, CudaStream stream, ulong pw, ulong pq, ulong ps, ulong pz,
                                        long rows, int k, int group, int groups, int qmax, int int8, int zero)
    {
        const uint warpsPerBlock = 8;
        long segments = rows * groups;
        uint blocks = (uint)((segments + warpsPerBlock - 1) / warpsPerBlock);
        void** args = stackalloc void*[] { &pw, &pq, &ps, &pz, &rows, &k, &group, &groups, &qmax, &int8, &zero };
        kernel.Launch(stream, new Dim3(blocks), new Dim3(warpsPerBlock * 32), 0, args);
    }
}
