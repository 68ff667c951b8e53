using GraphEngine.Kernels;

namespace GraphEngine.Conformance;

/// <summary>
/// One deliberately broken kernel: the define that switches it on, the native/ files whose #if blocks it
/// selects (<see cref="Files"/>), the sources compiled with it, the cases that reach that kernel (name
/// filters, as for check --filter) and whether the managed reference has the same bug behind
/// <see cref="KernelMutants.IsActive"/>.
/// </summary>
public sealed record MutantSpec(string Define, string Family, string Bug, IReadOnlyList<string> Files,
    IReadOnlyList<string> Sources, string CaseFilter, bool OnReference = false)
{
    /// <summary>The kernel-side description handed to <see cref="KernelMutants.Activate"/>.</summary>
    public KernelMutant Mutant { get; } = new(Define, Sources);
}

/// <summary>
/// The mutants `graphengine check --mutants` runs: at least one per kernel family of native/, more for the
/// GEMMs, covering the bug classes a wrong kernel usually has (off-by-one row or column, a dropped last K
/// tile, a wrong scale index, an fp16 accumulator, a skipped padded-row guard, a racy reduction, a
/// quantizer that writes self-consistent but wrong bytes).
/// </summary>
public static class MutantCatalog
{
    private const string Norm = "norm/rms_norm.cu", WeightOnly = "gemm/weight_only_gemm.cu", DenseGemv = "gemm/dense_gemv.cu", BlockFp8 = "gemm/block_fp8_gemm.cu",
        Group = "moe/group_gemm.cu", GroupWgmma = "moe/group_gemm_wgmma.cu", GroupStream = "moe/group_gemm_stream.cu", GroupTma = "moe/group_gemm_tma.cu", WgmmaStore = "moe/wgmma_store.cuh", GroupCore = "moe/group_gemm_core.cuh", LowpTile = "gemm/lowp_tile.cuh",
        W4afp8 = "moe/w4afp8_group_gemm.cu", Nvfp4 = "moe/nvfp4_group_gemm.cu", Wi4a16 = "moe/wi4a16_group_gemm.cu",
        Routing = "moe/moe_routing.cu", Permute = "moe/moe_permute.cu", SwiGluEpilogue = "moe/swiglu_epilogue.cuh", Fp8Quant = "quant/fp8_quant.cu",
        WeightQuant = "quant/weight_quantize.cu", Int8Act = "gemm/int8_act_gemm.cu", Int8Quant = "quant/int8_quant.cu",
        Int8ActTile = "gemm/int8_act_tile.cuh", Int8Stream = "gemm/int8_act_stream.cu", Int8StreamTile = "gemm/int8_act_stream.cuh", Int8Group = "moe/int8_act_group_gemm.cu", Int8Epilogue = "gemm/int8_scale_epilogue.cu", Int8Tma = "gemm/int8_act_tma.cu",
        Convert = "quant/convert.cu", ConvertFp4 = "quant/convert_fp4.cu";

    private const string NormCases = "dense/rmsnorm,graph/replay-equals-eager/rmsnorm";
    private const string WeightOnlyCases = "dense/linear/wint,graph/replay-equals-eager/linear/wint";
    // The per-tile cases first: on the H200 the layer cases reach the weight-streaming and wgmma kernels, not these tiles
    // (the full mutant run at f8148bb missed GG_LAST_COLUMN and GG_FP16_ACCUMULATOR over the layer cases alone).
    private const string GroupCases = "moe/group-gemm/,moe/layer/bf16,moe/layer/fp16,moe/layer/wint,moe/graph/bf16,moe/graph/wint,graph/replay-equals-eager/moe/bf16,graph/replay-equals-eager/moe/wint";
    // The half-weight cases whose K is a multiple of 8 (the wgmma kernel's condition on sm_90): the per-tile cases of its two
    // tiles (64 x 128, the rule's at 9-47 rows per expert; 128 x 256, the bench's A/B), then the layers, both layouts.
    private const string WgmmaCases = "moe/group-gemm/bf16/rows-per-expert=16,moe/group-gemm/bf16/cp-async,moe/layer/bf16/prefix/rows-per-expert,moe/layer/bf16/padded/rows-per-expert,moe/layer/fp16/prefix/rows-per-expert,moe/layer/fp16/padded/rows-per-expert,moe/layer/bf16/prefix/issue-shape,moe/layer/bf16/padded/issue-shape";
    // The layer cases whose GEMMs split K over several blocks of the weight-streaming kernel, and their graph replays.
    private const string StreamCases = "moe/stream";
    // The cases with hundreds of half-weight rows per expert (the TMA kernel's regime on sm_90): the per-tile cases, then layers.
    private const string TmaCases = "moe/group-gemm/bf16/rows-per-expert=96,moe/layer/bf16/prefix/rows-per-expert,moe/layer/bf16/padded/rows-per-expert,moe/layer/fp16/prefix/rows-per-expert,moe/layer/bf16/prefix/issue-shape";
    // The cases whose integer codes take the TMA kernel on sm_90 (per channel from 12 rows per expert, int4 grouped from 48):
    // the per-tile cases, then the layers, whose gate/up and down GEMMs both take it.
    private const string TmaIntCases = "moe/group-gemm/wint8/rows-per-expert=16,moe/group-gemm/wint4/rows-per-expert=16,moe/group-gemm/wint4-g64/rows-per-expert=48,moe/layer/wint8/prefix/rows-per-expert,moe/layer/wint4/prefix/rows-per-expert,moe/layer/wint4-g128/prefix/rows-per-expert";
    private const string Int8ActCases = "lowprec/w8a8,lowprec/w4a8";
    // The w8a8 cases that run the TMA kernel on sm_90: both every-variant cases force it, then the Linear cases at many rows.
    private const string Int8TmaCases = "lowprec/w8a8/gemm/every-variant,lowprec/w8a8/linear/f16/m=1000,lowprec/w8a8/graph-replay/many-rows";
    private const string MoeCases = "moe/routing,moe/layer/bf16,moe/layer/fp16";
    // Every case whose gate/up group GEMM fuses SwiGLU: the kernel-level cases first (each tile, both layouts), then the layers.
    private const string FusedSwiGluCases = "moe/group-gemm/,moe/layer/bf16,moe/layer/fp16,moe/layer/wint";

    private static MutantSpec M(string define, string family, string bug, string file, string caseFilter, bool reference = false) =>
        new(define, family, bug, new[] { file }, new[] { file }, caseFilter, reference);

    /// <summary>Every mutant, grouped by family.</summary>
    public static IReadOnlyList<MutantSpec> All { get; } = new[]
    {
        M("GE_MUTANT_RMSNORM_LAST_ROW", "norm/rms_norm", "the row guard stops one row early (the last valid row is never stored)", Norm, NormCases, reference: true),
        M("GE_MUTANT_RMSNORM_LAST_COLUMN", "norm/rms_norm", "the last vector of each row is never stored (column off by one)", Norm, NormCases, reference: true),
        M("GE_MUTANT_RMSNORM_RACY_SUM", "norm/rms_norm", "the block sum is read before warp 0 has written it (barrier dropped)", Norm, NormCases),

        M("GE_MUTANT_WO_DROP_LAST_K", "gemm/weight_only_gemm", "wo_gemv drops the last K chunk", WeightOnly, WeightOnlyCases),
        M("GE_MUTANT_WO_SCALE_INDEX", "gemm/weight_only_gemm", "wo_gemv reads the neighbouring channel's scale", WeightOnly, WeightOnlyCases),
        M("GE_MUTANT_WO_RACY_REDUCTION", "gemm/weight_only_gemm", "wo_gemv sums the warps' partials before all are written (barrier dropped, the other warps held back as on a busy SM)", WeightOnly, WeightOnlyCases),
        M("GE_MUTANT_WO_SKIP_PAD_GUARD", "gemm/weight_only_gemm", "wo_gemv stores rows at or past the token count", WeightOnly, WeightOnlyCases),
        M("GE_MUTANT_WO_DEQUANT_LAST_ROW", "gemm/weight_only_gemm", "wo_dequantize never writes the last output channel (row off by one)", WeightOnly, WeightOnlyCases),
        M("GE_MUTANT_WO_SPLIT_DROP_LAST", "gemm/weight_only_gemm", "wo_gemm_small leaves the last K split out of its reduction", WeightOnly, WeightOnlyCases),

        M("GE_MUTANT_GV_DROP_LAST_K", "gemm/dense_gemv", "dense_gemv drops the last 32-wide K chunk of the last warp", DenseGemv, "dense/linear/none"),
        M("GE_MUTANT_GV_RACY_REDUCTION", "gemm/dense_gemv", "dense_gemv sums the warps' partials before all are written (barrier dropped, the other warps held back as on a busy SM)", DenseGemv, "dense/linear/none"),

        M("GE_MUTANT_BF8_DROP_LAST_K", "gemm/block_fp8_gemm", "the last 128-wide K block is dropped", BlockFp8, "lowprec/block_fp8"),
        M("GE_MUTANT_BF8_SCALE_INDEX", "gemm/block_fp8_gemm", "each K block is scaled with the next block's weight scale", BlockFp8, "lowprec/block_fp8"),
        M("GE_MUTANT_BF8_SKIP_PAD_GUARD", "gemm/block_fp8_gemm", "rows at or past the token count are stored", BlockFp8, "lowprec/block_fp8"),

        new("GE_MUTANT_GG_LAST_ROW", "moe/group_gemm", "each expert's last row is never computed (row off by one; the M-tile walk is shared with the weight-streaming kernel)", new[] { GroupCore }, new[] { Group, GroupStream }, GroupCases),
        new("GE_MUTANT_I8A_DROP_LAST_K", "gemm/int8_act_gemm", "the last 128-wide K block is dropped", new[] { Int8ActTile }, new[] { Int8Act, Int8Group }, Int8ActCases),
        new("GE_MUTANT_I8A_SCALE_INDEX", "gemm/int8_act_gemm", "the weight scale of the next K block (grouped) or the next channel (per channel) is read",
            new[] { Int8ActTile }, new[] { Int8Act, Int8Group }, Int8ActCases),
        new("GE_MUTANT_I8A_SKIP_PAD_GUARD", "gemm/int8_act_gemm", "rows at or past the token count (Linear) or the expert's rows (group GEMM) are stored",
            new[] { Int8ActTile }, new[] { Int8Act, Int8Group }, Int8ActCases),
        new("GE_MUTANT_I8S_DROP_LAST_K", "gemm/int8_act_stream", "the few-row streaming kernel drops the last 128-wide K block", new[] { Int8StreamTile }, new[] { Int8Stream }, Int8ActCases),
        new("GE_MUTANT_I8S_SCALE_INDEX", "gemm/int8_act_stream", "the streaming kernel's group chain reads the next group's weight scale", new[] { Int8StreamTile }, new[] { Int8Stream }, Int8ActCases),
        new("GE_MUTANT_I8S_SKIP_PAD_GUARD", "gemm/int8_act_stream", "the streaming Linear stores token rows at or past the token count (up to the host rows)", new[] { Int8StreamTile }, new[] { Int8Stream }, Int8ActCases),
        M("GE_MUTANT_I8T_DROP_LAST_K", "gemm/int8_act_tma", "the TMA kernel drops the last 128-wide K tile (kblocks - 1)", Int8Tma, Int8TmaCases),
        M("GE_MUTANT_I8T_SCALE_INDEX", "gemm/int8_act_tma", "the TMA kernel's epilogue reads the next channel's weight scale", Int8Tma, Int8TmaCases),
        M("GE_MUTANT_I8T_SKIP_PAD_GUARD", "gemm/int8_act_tma", "the TMA kernel stores the rows of its tiles at or past the token count (up to the host rows)", Int8Tma, Int8TmaCases),
        M("GE_MUTANT_I8E_SCALE_INDEX", "gemm/int8_scale_epilogue", "the IMMA path's epilogue reads the next channel's weight scale", Int8Epilogue, "lowprec/w8a8"),
        M("GE_MUTANT_I8Q_TRUNCATE", "quant/int8_quant", "activation codes are rounded toward zero instead of to nearest even", Int8Quant, "lowprec/w8a8,lowprec/w4a8"),

        new("GE_MUTANT_GG_DROP_LAST_K", "moe/group_gemm", "the last K tile is dropped", new[] { GroupCore }, new[] { Group }, GroupCases),
        new("GE_MUTANT_GG_SCALE_INDEX", "moe/group_gemm", "the next group's scale (grouped) or the neighbouring channel's (per channel)", new[] { GroupCore }, new[] { Group }, GroupCases),
        new("GE_MUTANT_GG_LAST_COLUMN", "moe/group_gemm", "the last output column (pair) is never stored", new[] { GroupCore }, new[] { Group }, GroupCases),
        new("GE_MUTANT_GG_RACY_DECODE", "moe/group_gemm", "decoded weights are read before every warp has written them (barrier dropped)", new[] { GroupCore }, new[] { Group }, GroupCases),
        new("GE_MUTANT_GG_FP16_ACCUMULATOR", "moe/group_gemm", "the fp32 accumulator is rounded to fp16 after every K tile", new[] { GroupCore }, new[] { Group }, GroupCases),
        M("GE_MUTANT_GG_QUANT_SCALE", "moe/group_gemm", "quantize_experts divides by qmax - 1: consistent bytes and scales, but not the host quantizer's", Group, "moe/layer/wint,moe/graph/wint"),

        new("GE_MUTANT_GW_LAST_ROW", "moe/group_gemm_wgmma", "the epilogue's row guard stops one row early (each expert's last row is never stored; the epilogue is shared with the TMA kernel)",
            new[] { WgmmaStore }, new[] { GroupWgmma, GroupTma }, WgmmaCases),
        M("GE_MUTANT_GW_DROP_LAST_K", "moe/group_gemm_wgmma", "the last 64-wide K tile is dropped (kblocks - 1)", GroupWgmma, WgmmaCases),
        M("GE_MUTANT_GW_RACY_REFILL", "moe/group_gemm_wgmma", "the ring runs one tile further ahead and refills the slot of tile kb - 1, which the wgmma group left in flight may still read", GroupWgmma, WgmmaCases),
        M("GE_MUTANT_GW_EXPERT_OFFSET", "moe/group_gemm_wgmma", "expert e's weights are found at e * N * K bytes instead of elements", GroupWgmma, WgmmaCases),

        M("GE_MUTANT_GT_DROP_LAST_K", "moe/group_gemm_tma", "the last 64-wide K tile is dropped (kblocks - 1; the count is shared by the half and integer kernels)", GroupTma, TmaCases + "," + TmaIntCases),
        M("GE_MUTANT_GT_SECOND_BOX", "moe/group_gemm_tma", "the second weight box is loaded from the first box's rows (the up rows, or the second half of the block, never read; the producer is shared by the half and integer kernels)", GroupTma, TmaCases + "," + TmaIntCases),
        M("GE_MUTANT_GTI_DROP_LAST_K", "moe/group_gemm_tma", "the integer kernel alone drops its last 64-wide K tile (producer and MMA warpgroups alike)", GroupTma, TmaIntCases),
        M("GE_MUTANT_GTI_ONE_DECODER", "moe/group_gemm_tma", "the integer kernel's second MMA warpgroup never decodes its half of the weight rows (wgmma reads what the last tile left there)", GroupTma, TmaIntCases),
        new("GE_MUTANT_GW_SCALE_INDEX", "moe/group_gemm_tma", "the Hopper integer kernel folds the neighbouring channel's scale (per channel) or the next group's (grouped)",
            new[] { WgmmaStore }, new[] { GroupTma }, TmaIntCases),

        new("GE_MUTANT_SWIGLU_EPI_SWAP", "moe/group_gemm", "the fused SwiGLU epilogue computes silu(up) * gate", new[] { SwiGluEpilogue },
            new[] { Group, GroupWgmma, GroupTma }, FusedSwiGluCases, OnReference: true),
        new("GE_MUTANT_SWIGLU_EPI_NEIGHBOUR", "moe/group_gemm", "the fused SwiGLU epilogue pairs gate j with up j + 1 (the weight loader's up rows one off)",
            new[] { SwiGluEpilogue }, new[] { Group, GroupWgmma }, FusedSwiGluCases, OnReference: true),

        M("GE_MUTANT_GS_DROP_LAST_SLICE", "moe/group_gemm_stream", "the split-K reduction leaves the last K slice out", GroupStream, StreamCases),
        M("GE_MUTANT_GS_RACY_REDUCTION", "moe/group_gemm_stream", "the warps' sums are added before every warp has written its own (barrier dropped)", GroupStream, StreamCases),
        M("GE_MUTANT_GS_GROUP_PER_BLOCK", "moe/group_gemm_stream", "each 128-wide K block takes its own scale group, as if groups were 128 wide", GroupStream, StreamCases),
        M("GE_MUTANT_GS_NEIGHBOUR_PAIRS", "moe/group_gemm_stream", "int4 activations are staged in neighbour order while the weights are paired by nibble distance 4", GroupStream, StreamCases),
        M("GE_MUTANT_GS_TICKET_NOT_RESET", "moe/group_gemm_stream", "the last block never re-arms its ticket: no later launch stores the split columns", GroupStream, StreamCases),

        M("GE_MUTANT_W4AFP8_DROP_LAST_K", "moe/w4afp8_group_gemm", "the last 128-wide K block is dropped", W4afp8, "lowprec/w4afp8,moe/layer/w4afp8"),
        M("GE_MUTANT_W4AFP8_SCALE_INDEX", "moe/w4afp8_group_gemm", "group 0's scale for every K block (grouped), the neighbour's (per channel)", W4afp8, "lowprec/w4afp8,moe/layer/w4afp8"),
        new("GE_MUTANT_LP_LAST_ROW", "moe/w4afp8_group_gemm", "each expert's last row is never stored (lp_find_tile, shared with nvfp4 and the TMA group GEMM)", new[] { LowpTile },
            new[] { W4afp8, Nvfp4, GroupTma }, "lowprec/w4afp8,lowprec/nvfp4,moe/layer/w4afp8,moe/layer/nvfp4," + TmaCases),

        M("GE_MUTANT_NVFP4_SCALE_INDEX", "moe/nvfp4_group_gemm", "neighbouring 16-element blocks swap their e4m3 scales", Nvfp4, "lowprec/nvfp4,moe/layer/nvfp4"),
        M("GE_MUTANT_NVFP4_DROP_LAST_K", "moe/nvfp4_group_gemm", "the last K block is dropped", Nvfp4, "lowprec/nvfp4,moe/layer/nvfp4"),

        M("GE_MUTANT_WI4A16_LAST_ROW", "moe/wi4a16_group_gemm", "each planned tile stops one row short", Wi4a16, "moe/wi4a16,moe/layer/wi4a16"),
        M("GE_MUTANT_WI4A16_ZERO_POINT", "moe/wi4a16_group_gemm", "the quantizer stores zero point 7 for codes biased by 8", Wi4a16, "moe/wi4a16,moe/layer/wi4a16"),

        M("GE_MUTANT_ROUTING_NO_RENORM", "moe/moe_routing", "top-k weights are not renormalized", Routing, MoeCases),
        M("GE_MUTANT_ROUTING_KEEPS_TAKEN", "moe/moe_routing", "the top-k leaves a chosen expert in the running, so every slot picks the same one", Routing, MoeCases),
        M("GE_MUTANT_ROUTER_RACY_REDUCTION", "moe/moe_routing", "both fp32 routers sum the partials before the first warp (K group) has stored its own", Routing, MoeCases),
        M("GE_MUTANT_ROUTER_DROP_LAST_CHUNK", "moe/moe_routing", "the tiled fp32 router drops its last 64-wide K chunk", Routing, MoeCases),
        M("GE_MUTANT_ROUTER_FUSED_PAD_GUARD", "moe/moe_routing", "the router's fused top-k routes rows at or past the token count", Routing, MoeCases),
        M("GE_MUTANT_ASSIGN_COUNT", "moe/moe_routing", "each expert's reported token count is one short", Routing, MoeCases + ",lowprec/w4afp8/Padded,lowprec/nvfp4/Padded"),

        M("GE_MUTANT_COMBINE_DROP_LAST_SLOT", "moe/moe_permute", "the last selected expert is left out of the weighted sum", Permute, MoeCases, reference: true),
        M("GE_MUTANT_SWIGLU_SWAP", "moe/moe_permute", "gate and up halves read the wrong way round", Permute, MoeCases, reference: true),

        M("GE_MUTANT_FP8Q_RACY_REDUCTION", "quant/fp8_quant", "the per-token amax is read before every warp has written it (barrier dropped, the writers held back as on a busy SM)", Fp8Quant, "lowprec/w4afp8,moe/layer/w4afp8"),
        M("GE_MUTANT_FP8Q_SCALE_INDEX", "quant/fp8_quant", "a 128-group's scale is stored at the next group's index", Fp8Quant, "lowprec/block_fp8"),
        M("GE_MUTANT_WQ_RACY_REDUCTION", "quant/weight_quantize", "threads read the group maximum before it is written (barrier dropped, warp 0 held back as on a busy SM)", WeightQuant, "dense/quantize,dense/linear/wint"),
        M("GE_MUTANT_CONVERT_NO_SATURATION", "quant/convert", "the satfinite encoders do not saturate", Convert, "format/"),
        M("GE_MUTANT_RANDOM_NO_OFFSET", "random/random", "the fill ignores its offset", "random/random.cu", "device/random-fill"),
        M("GE_MUTANT_FP4_NIBBLE_ORDER", "quant/convert_fp4", "the two e2m1 values of a byte are packed in the wrong order", ConvertFp4, "format/"),
    };

    /// <summary>Mutants whose define or family contains any of the comma-separated filters (case-insensitive); all for null or empty.</summary>
    public static IReadOnlyList<MutantSpec> Select(string? filter)
    {
        var parts = (filter ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return All.Where(m => parts.Length == 0 || parts.Any(p =>
            m.Define.Contains(p, StringComparison.OrdinalIgnoreCase) || m.Family.Contains(p, StringComparison.OrdinalIgnoreCase))).ToArray();
    }
}
