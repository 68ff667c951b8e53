// Hopper (sm_90a) MoE group GEMM for half-precision weights at tens to hundreds of rows per expert: C[rows, N] =
// A[rows, K] x W[e]ᵀ, both token layouts, fed by the TMA, warp-specialised and persistent.
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

#define GT_BK 64                  // halfs per K tile: one 128-byte swizzled row

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
#ifdef GE_EMULATED_MMA
    unsigned char* gt_dyn_smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ unsigned char gt_dyn_smem[];
#endif
    unsigned char* base = gt_dyn_smem + ((1024 - (ptx_smem_addr(gt_dyn_smem) & 1023)) & 1023);
    unsigned char* s_a = base;                                   // [STAGES][a_stage]
    unsigned char* s_w = base + STAGES * S::a_stage;             // [STAGES][w_stage]
    unsigned long long* full = reinterpret_cast<unsigned long long*>(s_w + STAGES * S::w_stage);
    unsigned long long* empty = full + STAGES;
#if defined(GE_MUTANT_GT_DROP_LAST_K)
    const int kblocks = (K + GT_BK - 1) / GT_BK - 1;
#else
    const int kblocks = (K + GT_BK - 1) / GT_BK;
#endif
    const int tid = threadIdx.x, wg = tid >> 7;

    if (tid == 0) {
        for (int s = 0; s < STAGES; s++) {
            ptx_mbar_init(&full[s], 1);
            ptx_mbar_init(&empty[s], 8);   // one arrival from each MMA warp
        }
        ptx_fence_mbar_init();
    }
    __syncthreads();

    if (wg == 0) {
        ptx_setmaxnreg_dec<40>();
        if (tid != 0) return;
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
                ptx_mbar_arrive_expect_tx(&full[s], S::a_stage + S::w_stage);
                ptx_tma_load_2d(s_a + s * S::a_stage, a_map, &full[s], kb * GT_BK, row0);
                unsigned char* w_dst = s_w + s * S::w_stage;
                ptx_tma_load_3d(w_dst, w_map, &full[s], kb * GT_BK, w_row0, e);
                ptx_tma_load_3d(w_dst + S::w_box, w_map, &full[s], kb * GT_BK, w_row1, e);
            }
        }
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
                ptx_wgmma_fence_operands<ACC>(acc);
                ptx_wgmma_fence();
#pragma unroll
                for (int ks = 0; ks < GT_BK / 16; ks++)
                    ptx_wgmma_m64k16<T, BN>(acc, ptx_wgmma_desc_sw128(ta + ks * 32), ptx_wgmma_desc_sw128(tw + ks * 32), 1);
                ptx_wgmma_commit_group();
                // One group stays in flight: when this returns, the MMAs of the previous K tile have read their stage.
                ptx_wgmma_wait_group<1>();
                ptx_wgmma_fence_operands<ACC>(acc);
            }
            // Every lane of the warp is past the wait before its lane 0 frees a stage: a warpgroup without rows has no
            // wgmma to converge it, and a lane left two phases behind would read the barrier's parity as current.
            __syncwarp();
            if (kb > 0 && lane == 0) ptx_mbar_arrive(&empty[(it - 1) % STAGES]);
        }
        ptx_wgmma_wait_group<0>();
        ptx_wgmma_fence_operands<ACC>(acc);
        // The tile's last stage is free once its MMAs are done; the producer is already filling the next tile's.
        if (lane == 0) ptx_mbar_arrive(&empty[(it - 1) % STAGES]);
        if (has_rows) gw_store_tile<T, BN, SWIGLU>(acc, C, row0 + mwg * 64, row_end, col0, N, warp, g, t4);
    }
}
