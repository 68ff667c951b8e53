// Hopper (sm_90a) MoE group GEMM at tens to hundreds of rows per expert: C[rows, N] = A[rows, K] x W[e]ᵀ, both token
// layouts, fed by the TMA, warp-specialised and persistent: group_gemm_tma for half-precision weights, group_gemm_tma_int
// (below) for integer codes decoded in shared memory.
//
// Why a third kernel: group_gemm_wgmma's 128 x 256 tile is bound by L2-to-SM traffic at 2048 tokens (ncu on the H200:
// L2 84% busy, DRAM 48%, one eligible warp in three cycles), because every thread issues cp.async copies and every K
// tile ends in a block barrier. Here one producer thread issues TMA box copies into a ring of STAGES stages, and the
// two MMA warpgroups wait on per-stage mbarriers (full: the TMA's bytes have landed; empty: every MMA warp is done with
// the stage): neither side waits for the other's whole block. The grid is one CTA per SM, each walking the output tiles
// t = blockIdx.x, + gridDim.x, ...: the ring runs on across tiles, so the producer loads the next tile's first stages
// while the MMA warpgroups store this one's C, and no CTA pays a launch, a barrier set-up or a pipeline fill per tile.
//
// Tile t is the BN block t % column_blocks of N and the M tile t / column_blocks (consecutive CTAs share A's rows, as
// the grids of the other kernels do), walked over the experts' tile counts (read from the device: capturable). Rows past
// the expert's end are read (the next expert's, or zeros past A from the TMA) but never stored; weight rows past N and
// K past its end are zero-filled by the TMA. Requires K % 8 == 0 (the TMA's 16-byte strides).
//
// Tile: 128 rows (64 per MMA warpgroup) x BN weight rows in two boxes of BN / 2, K tiles of 64 halfs (128-byte rows,
// the TMA's 128-byte swizzle, the layout wgmma's descriptors name). Warpgroup 0 is the producer (it gives its registers
// to the MMA warpgroups, setmaxnreg), warpgroups 1 and 2 the consumers. A third MMA warpgroup (192 rows: a quarter
// less L2 traffic per row) does not fit: 512 threads leave 128 registers a thread at compile time, and ptxas needs 154
// for a wgmma with 128 accumulators.
//
// SWIGLU = 1 fuses SwiGLU as group_gemm_wgmma does: the first weight box holds BN / 2 gate rows, the second the
// matching up rows.
#include "ptx.cuh"
#include "gemm/lowp_tile.cuh"
#include "moe/wgmma_store.cuh"
#include "moe/group_gemm_core.cuh"

#define GT_BK 64                  // halfs per K tile: one 128-byte swizzled row
static_assert(GT_BK * 2 == 128, "ptx_wgmma_k_tile issues one 128-byte K tile");

#define GT_BM 128                 // rows per tile: two MMA warpgroups of 64
#define GT_THREADS 384            // producer warpgroup + two MMA warpgroups

template <int BN>
struct gt_smem {
    static constexpr int a_stage = GT_BM * GT_BK * 2;        // one 128-row box
    static constexpr int w_box = BN / 2 * GT_BK * 2;         // one of the two weight boxes
    static constexpr int w_stage = 2 * w_box;
};



// Output tile t: its expert, first row (absolute in A), the expert's end and the first column of C; false past the last
// tile (and then for every later t, whose M tile is larger).
template <int BN, int SWIGLU>
GE_DEVICE bool gt_tile(const int* offsets, int experts, int padded_slots, int column_blocks, int t, int& e, int& row0,
                       int& row_end, int& col0) {
    const int m = t / column_blocks;
    col0 = (t - m * column_blocks) * (SWIGLU ? BN / 2 : BN);
    return padded_slots > 0 ? lp_find_tile<0, GT_BM>(offsets, experts, padded_slots, m, e, row0, row_end)
                            : lp_find_tile<1, GT_BM>(offsets, experts, 0x7fffffff, m, e, row0, row_end);
}

// K tiles of 64 over K (the last one partial: the TMA zero-fills past K).
GE_DEVICE int gt_kblocks(int K) {
#if defined(GE_MUTANT_GT_DROP_LAST_K)
    return (K + GT_BK - 1) / GT_BK - 1;
#else
    return (K + GT_BK - 1) / GT_BK;
#endif
}

// Every stage's full barrier takes the producer's one arrival (and the TMA's bytes), its empty barrier one arrival from
// each of the 8 MMA warps; the whole block waits for the initialisation.
template <int STAGES>
GE_DEVICE void gt_init_barriers(unsigned long long* full, unsigned long long* empty, int tid) {
    if (tid == 0) {
        for (int s = 0; s < STAGES; s++) {
            ptx_mbar_init(&full[s], 1);
            ptx_mbar_init(&empty[s], 8);
        }
        ptx_fence_mbar_init();
    }
    __syncthreads();
}

// The producer thread: for each output tile of this CTA's walk and each K tile, waits for the ring slot to be free and
// has the TMA load A's 128 rows (A_STAGE bytes) and the weight tile's two boxes of BN / 2 rows (W_BOX bytes each, at
// W_INNER elements of the weight map per K tile: 64 halfs, or 64 / 32 bytes of codes) into it, completing on full[slot].
template <int BN, int STAGES, int SWIGLU, int A_STAGE, int W_BOX, int W_INNER>
GE_DEVICE void gt_produce(const ge_tensor_map& a_map, const ge_tensor_map& w_map, unsigned char* s_a, unsigned char* s_w,
                          unsigned long long* full, unsigned long long* empty, const int* offsets, int experts, int N,
                          int padded_slots, int column_blocks, int tiles, int kblocks) {
    ptx_tma_prefetch_descriptor(a_map);
    ptx_tma_prefetch_descriptor(w_map);
    int it = 0;   // K tiles issued by this CTA so far, over all its output tiles: the ring position
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int e, row0, row_end, col0;
        if (!gt_tile<BN, SWIGLU>(offsets, experts, padded_slots, column_blocks, t, e, row0, row_end, col0)) break;
        // The weight rows of the two boxes: BN / 2 consecutive rows each (gate then up rows with SWIGLU).
        const int w_row0 = col0;
#if defined(GE_MUTANT_GT_SECOND_BOX)
        const int w_row1 = col0;
#else
        const int w_row1 = SWIGLU ? (N >> 1) + col0 : col0 + BN / 2;
#endif
        for (int kb = 0; kb < kblocks; kb++, it++) {
            const int s = it % STAGES;
            ptx_mbar_wait(&empty[s], ((it / STAGES) & 1) ^ 1);   // the first pass through the ring finds every slot free
            ptx_mbar_arrive_expect_tx(&full[s], A_STAGE + 2 * W_BOX);
            ptx_tma_load_2d(s_a + s * A_STAGE, a_map, &full[s], kb * GT_BK, row0);
            unsigned char* w_dst = s_w + s * 2 * W_BOX;
            ptx_tma_load_3d(w_dst, w_map, &full[s], kb * W_INNER, w_row0, e);
            ptx_tma_load_3d(w_dst + W_BOX, w_map, &full[s], kb * W_INNER, w_row1, e);
        }
    }
}

// Dynamic shared memory: STAGES * (a_stage + w_stage) + 2 * STAGES barriers of 8 bytes + 1024 (alignment of the ring).
template <typename T, int BN, int STAGES, int SWIGLU = 0>
__global__ void __launch_bounds__(GT_THREADS, 1) group_gemm_tma(
    const __grid_constant__ ge_tensor_map a_map,   // A: [rows, K] (or [E * P, K]) T, box 64 x 128, 128-byte swizzle
    const __grid_constant__ ge_tensor_map w_map,   // W: [E, N, K] T, box 64 x BN / 2 x 1, 128-byte swizzle
    const int* __restrict__ offsets,               // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,                // [rows, N] or [E, P, N]; SWIGLU: N / 2 columns
    int experts, int N, int K, int padded_slots,
    int column_blocks, int tiles) {                // BN blocks of C's columns; the host's bound on tiles (M x column blocks)
    static_assert(BN == 128 || BN == 256, "two weight boxes of 64 or 128 rows; m64nBNk16");
    static_assert(STAGES >= 2, "a stage in use and one filling");
    using S = gt_smem<BN>;
    constexpr int ACC = BN / 2;   // fp32 accumulators per MMA thread
    unsigned char* base = ptx_dynamic_smem_1024();
    unsigned char* s_a = base;                                   // [STAGES][a_stage]
    unsigned char* s_w = base + STAGES * S::a_stage;             // [STAGES][w_stage]
    unsigned long long* full = reinterpret_cast<unsigned long long*>(s_w + STAGES * S::w_stage);
    unsigned long long* empty = full + STAGES;
    const int kblocks = gt_kblocks(K);
    const int tid = threadIdx.x, wg = tid >> 7;
    gt_init_barriers<STAGES>(full, empty, tid);

    if (wg == 0) {
        ptx_setmaxnreg_dec<40>();
        if (tid == 0) gt_produce<BN, STAGES, SWIGLU, S::a_stage, S::w_box, GT_BK>(a_map, w_map, s_a, s_w, full, empty, offsets, experts, N, padded_slots, column_blocks, tiles, kblocks);
        return;
    }

    ptx_setmaxnreg_inc<232>();
    const int mwg = wg - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    int it = 0;   // K tiles consumed, in the producer's order
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int e, row0, row_end, col0;
        if (!gt_tile<BN, SWIGLU>(offsets, experts, padded_slots, column_blocks, t, e, row0, row_end, col0)) break;
        const bool has_rows = row0 + mwg * 64 < row_end;   // uniform per warpgroup
        float acc[ACC];
#pragma unroll
        for (int i = 0; i < ACC; i++) acc[i] = 0.0f;
        for (int kb = 0; kb < kblocks; kb++, it++) {
            const int s = it % STAGES;
            ptx_mbar_wait(&full[s], (it / STAGES) & 1);
            if (has_rows) {
                const unsigned ta = ptx_smem_addr(s_a + s * S::a_stage + mwg * 64 * 128);
                const unsigned tw = ptx_smem_addr(s_w + s * S::w_stage);
                ptx_wgmma_k_tile<T, BN>(acc, ta, tw);
                // One group stays in flight: when this returns, the MMAs of the previous K tile have read their stage.
                ptx_wgmma_wait_group<1>();
                ptx_wgmma_fence_operands<ACC>(acc);
            }
            if (kb > 0) ptx_ring_free(&empty[(it - 1) % STAGES], lane);
        }
        ptx_wgmma_wait_group<0>();
        ptx_wgmma_fence_operands<ACC>(acc);
        // The tile's last stage is free once its MMAs are done in every lane of the warp (as in the loop; the host
        // emulation, whose MMAs run lane by lane, freed it under a lagging lane without the warp's convergence); the
        // producer is already filling the next tile's.
        if (kblocks > 0) ptx_ring_free(&empty[(it - 1) % STAGES], lane);
        if (has_rows) gw_store_tile<T, BN, SWIGLU>(acc, C, row0 + mwg * 64, row_end, col0, N, warp, g, t4);
    }
}

// ---------------------------------------------------------------------------------------------
// Integer weights (int8 per channel; int4 per channel or in groups of a multiple of 64): the same producer, ring and
// persistent walk, with the TMA loading the codes as stored (64 or 32 bytes a row per K tile: a half or a quarter of
// the half kernel's weight bytes) from a byte map without swizzle. Each MMA warpgroup decodes its half of the stage's
// rows into one of two 128-byte-swizzled decoded tiles (ge_decode_fast8: exact, no I2F), so wgmma reads the activation
// type. The raw rows are contiguous: a warp's 8- or 4-byte reads cover 256 or 128 consecutive bytes, and its 16-byte
// swizzled stores four whole 128-byte rows, both free of bank conflicts.
//
// One named barrier over the 256 MMA threads per K tile orders everything, in this order for K tile i:
//   wait full[i]; decode tile i into decoded tile i & 1; fence.proxy.async (the decode to the async proxy wgmma reads);
//   wait for the MMAs of tile i - 1 (issued one step earlier, so they ran during this decode); barrier; free stage i - 1
//   (its codes were decoded and its A read by now in both warpgroups); issue the MMAs of tile i.
// Decoded tile i & 1 was last read by the MMAs of tile i - 2, which both warpgroups waited for before the previous
// barrier, so two decoded tiles suffice; and since every MMA thread passes that barrier each K tile, no lane can lag a
// phase behind on a full barrier (the half kernel's ptx_ring_free).
//
// Codes convert exactly, so scales multiply fp32 sums (gw_scale_tile): per channel once, on the finished sum
// (GROUPED = 0, BN = 256: 128 accumulators); per group (GROUPED = 1, BN = 128: a partial sum beside the total), folded
// after the wait that follows the group's last MMAs, so a group end costs no extra drain. Requires K % 16 (int8) or
// K % 32 (int4) for the code rows' 16-byte strides, and grouped a group size that is a multiple of 64 dividing K (each
// K tile inside one group). A warpgroup without rows still decodes its half: the other warpgroup's MMAs read all BN rows.
template <int WMODE>
struct gti_bytes { static constexpr int row = WMODE == GG_INT8 ? GT_BK : GT_BK / 2; };   // code bytes per row and K tile

template <int WMODE, int BN>
struct gti_smem {
    static constexpr int a_stage = GT_BM * GT_BK * 2;
    static constexpr int raw_box = BN / 2 * gti_bytes<WMODE>::row;   // one of the two code boxes
    static constexpr int raw_stage = 2 * raw_box;
    static constexpr int w_tile = BN * GT_BK * 2;                   // one decoded tile
};

// Rows [mwg * BN / 2, (mwg + 1) * BN / 2) of a stage's codes (box mwg) into the decoded tile, 8 codes per thread and step.
template <typename T, int WMODE, int BN>
GE_DEVICE void gti_decode_half(unsigned char* tile, const unsigned char* raw, int mwg, int tid) {
    constexpr int row_bytes = gti_bytes<WMODE>::row, rows = BN / 2;
#if defined(GE_MUTANT_GTI_ONE_DECODER)
    if (mwg == 1) return;
#endif
#pragma unroll
    for (int i = 0; i < rows * 8 / 128; i++) {
        const int idx = tid + i * 128, r = mwg * rows + (idx >> 3), ch = idx & 7;
        unsigned lo, hi = 0u;
        if (WMODE == GG_INT8) {
            const uint2 v = *reinterpret_cast<const uint2*>(raw + r * row_bytes + ch * 8);
            lo = v.x;
            hi = v.y;
        } else {
            lo = *reinterpret_cast<const unsigned*>(raw + r * row_bytes + ch * 4);
        }
        *reinterpret_cast<uint4*>(tile + lp_swz128(r, ch)) = ge_decode_fast8<T, WMODE>(lo, hi);
    }
}

// Dynamic shared memory: 2 * w_tile + STAGES * (a_stage + raw_stage) + 2 * STAGES barriers of 8 bytes + 1024 (gti_smem).
template <typename T, int WMODE, int GROUPED, int BN, int STAGES, int SWIGLU = 0>
__global__ void __launch_bounds__(GT_THREADS, 1) group_gemm_tma_int(
    const __grid_constant__ ge_tensor_map a_map,   // A: [rows, K] (or [E * P, K]) T, box 64 x 128, 128-byte swizzle
    const __grid_constant__ ge_tensor_map w_map,   // codes: [E, N, K] int8 or [E, N, K / 2] int4 bytes, box 64 or 32 x BN / 2 x 1
    const float* __restrict__ scales,              // [E, N, groups]
    const int* __restrict__ offsets,               // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,                // [rows, N] or [E, P, N]; SWIGLU: N / 2 columns
    int experts, int N, int K, int group_size, int groups, int padded_slots,
    int column_blocks, int tiles) {                // as group_gemm_tma
    static_assert(WMODE == GG_INT8 || WMODE == GG_INT4, "signed codes with scales");
    static_assert(GROUPED ? BN == 128 : BN == 256, "a partial sum beside the total fits 64 + 64 accumulators; per channel 128");
    static_assert(STAGES >= 2, "a stage in use and one filling");
    using S = gti_smem<WMODE, BN>;
    constexpr int ACC = BN / 2;
    unsigned char* base = ptx_dynamic_smem_1024();
    unsigned char* s_w = base;                                   // [2][w_tile], 1024-aligned (wgmma's swizzle atoms)
    unsigned char* s_a = s_w + 2 * S::w_tile;                    // [STAGES][a_stage]
    unsigned char* s_raw = s_a + STAGES * S::a_stage;            // [STAGES][raw_stage]
    unsigned long long* full = reinterpret_cast<unsigned long long*>(s_raw + STAGES * S::raw_stage);
    unsigned long long* empty = full + STAGES;
#if defined(GE_MUTANT_GTI_DROP_LAST_K)
    const int kblocks = gt_kblocks(K) - 1;
#else
    const int kblocks = gt_kblocks(K);
#endif
    const int tid = threadIdx.x, wg = tid >> 7;
    gt_init_barriers<STAGES>(full, empty, tid);

    if (wg == 0) {
        ptx_setmaxnreg_dec<40>();
        if (tid == 0)
            gt_produce<BN, STAGES, SWIGLU, S::a_stage, S::raw_box, gti_bytes<WMODE>::row>(a_map, w_map, s_a, s_raw, full, empty, offsets, experts, N, padded_slots, column_blocks, tiles, kblocks);
        return;
    }

    ptx_setmaxnreg_inc<232>();
    const int mwg = wg - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    int it = 0;   // K tiles consumed, in the producer's order
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int e, row0, row_end, col0;
        if (!gt_tile<BN, SWIGLU>(offsets, experts, padded_slots, column_blocks, t, e, row0, row_end, col0)) break;
        const bool has_rows = row0 + mwg * 64 < row_end;   // uniform per warpgroup
        const float* se = scales + (long long)e * N * groups;
        float acc[ACC], part[GROUPED ? ACC : 1];
        float* mma = GROUPED ? part : acc;                  // what the MMAs accumulate into
#pragma unroll
        for (int i = 0; i < ACC; i++) acc[i] = 0.0f;
#pragma unroll
        for (int i = 0; i < (GROUPED ? ACC : 1); i++) part[i] = 0.0f;
        int fold = -1;   // the group whose last MMAs are in flight (grouped), folded once they are done
        for (int kb = 0; kb < kblocks; kb++, it++) {
            const int s = it % STAGES;
            unsigned char* tile_w = s_w + (it & 1) * S::w_tile;
            ptx_mbar_wait(&full[s], (it / STAGES) & 1);
            gti_decode_half<T, WMODE, BN>(tile_w, s_raw + s * S::raw_stage, mwg, tid & 127);
            ptx_fence_proxy_async_shared();
            if (has_rows) {
                ptx_wgmma_wait_group<0>();
                ptx_wgmma_fence_operands<ACC>(mma);
                if (GROUPED && fold >= 0) gw_scale_tile<BN, SWIGLU, 1>(acc, part, se, groups, fold, col0, N, t4);
            }
            ptx_bar_sync(1, 256);
            if (kb > 0 && lane == 0) ptx_mbar_arrive(&empty[(it - 1) % STAGES]);
            if (has_rows) {
                const unsigned ta = ptx_smem_addr(s_a + s * S::a_stage + mwg * 64 * 128);
                const unsigned tw = ptx_smem_addr(tile_w);
                ptx_wgmma_k_tile<T, BN>(mma, ta, tw);
            }
            fold = GROUPED && kb + 1 < kblocks && ((kb + 1) * GT_BK) % group_size == 0 ? kb * GT_BK / group_size : -1;
        }
        ptx_wgmma_wait_group<0>();
        ptx_wgmma_fence_operands<ACC>(mma);
        // The tile's last stage is free once its MMAs are done in every lane of the warp (the wait converges them;
        // ptx_ring_free's convergence says so where no MMA was issued); the producer is already filling the next tile's.
        if (kblocks > 0) ptx_ring_free(&empty[(it - 1) % STAGES], lane);
        if (!has_rows) continue;
        // K's end closes the last group (grouped) or the one per-channel sum.
        gw_scale_tile<BN, SWIGLU, GROUPED>(acc, part, se, groups, GROUPED ? (kblocks - 1) * GT_BK / group_size : 0, col0, N, t4);
        gw_store_tile<T, BN, SWIGLU>(acc, C, row0 + mwg * 64, row_end, col0, N, warp, g, t4);
    }
}
