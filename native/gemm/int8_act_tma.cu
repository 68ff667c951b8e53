// Hopper (sm_90a) w8a8 Linear GEMM at many rows: C[m, n] = rn(rn(float(A_q[m, :] . W_q[n, :]) * w_scale[n]) * a_scale[m]),
// int8 codes on both sides (per-token activation scales, per-channel weight scales), fed by the TMA, warp-specialised
// and persistent, with both scales applied in the epilogue straight from the int32 accumulators.
//
// Why: the path it replaces at many rows is cuBLASLt's IMMA product into an int32 workspace and a second kernel for
// the scales (int8_scale_epilogue.cu). On the H200 at M = 1024, N = K = 4096 that took 67.8 us against 44.7 us for bf16
// cuBLASLt: the int32 round trip (16 MiB written, read again) and a second launch cost more than the int8 rate saves.
// Here the sums never leave the registers.
//
// The structure is moe/group_gemm_tma.cu's, read there for the why of each piece: one producer thread issues TMA box
// copies into a ring of STAGES stages; two MMA warpgroups wait on per-stage full mbarriers and free a stage through
// its empty mbarrier; one CTA per SM walks the output tiles t = blockIdx.x, + gridDim.x, ... so the ring runs on across
// tiles. Tile t is the 256-column block t % column_blocks of the M tile t / column_blocks (N block fastest: consecutive
// CTAs share A's rows).
//
// Tile: 128 rows (64 per MMA warpgroup) x 256 weight rows, K tiles of 128 int8 (128-byte rows, the TMA's 128-byte
// swizzle, the layout the wgmma descriptors name), so a stage is 16 KiB of A and 32 KiB of W and four fit the 227 KiB
// an H200 block may opt in to. wgmma m64n256k32 s8.s8.s32: 128 int32 accumulators per MMA thread, K step 32 bytes
// inside the 128-byte row, four per K tile. The int32 sums are exact, and the epilogue's two fp32 products are the
// explicit roundings of gemm/int8_act_tile.cuh's per-channel formula, so every path of w8a8 gives the same bits.
//
// Rows: the tile walk stops at the device token count; rows of a tile at or past it are read (stale codes, or zeros
// past A from the TMA) but never stored, and their activation scales never read. Weight rows past the tensor and K
// past its end are zero-filled by the TMA. Requires K % 16 == 0 (the TMA's 16-byte strides); the Linear pads K and
// N to 128. Capturable: the tensor maps are kernel parameters, built on the host at launch.
#include "ptx.cuh"
#include "moe/wgmma_store.cuh"

#define I8T_BM 128                // rows per tile: two MMA warpgroups of 64
#define I8T_BN 256                // weight rows (output columns) per tile
#define I8T_BK 128                // int8 per K tile: one 128-byte swizzled row
static_assert(I8T_BK == 128, "ptx_wgmma_k_tile issues one 128-byte K tile");
#define I8T_THREADS 384           // producer warpgroup + two MMA warpgroups
#define I8T_A_STAGE (I8T_BM * I8T_BK)
#define I8T_W_STAGE (I8T_BN * I8T_BK)

// Output tile t's first row and first column; false past the last tile (and then for every later t).
GE_DEVICE bool i8t_tile(int valid, int column_blocks, int t, int& row0, int& col0) {
    const int m = t / column_blocks;
    row0 = m * I8T_BM;
    col0 = (t - m * column_blocks) * I8T_BN;
    return row0 < valid;
}

// Scales one warpgroup's m64 x 256 int32 sums (the wgmma accumulator layout gw_store_tile reads: warp w holds rows 16w + g
// and 16w + g + 8, register 4j + q column 8j + 2t + (q & 1)) and stores them as T below row_end and column n.
template <typename T>
GE_DEVICE void i8t_store_tile(const int* acc, const float* __restrict__ a_scale, const float* __restrict__ w_scale, unsigned short* C,
                              int row_base, int row_end, int col0, int n, int warp, int g, int t) {
    float v[I8T_BN / 2];
    float as[2];
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int r = row_base + warp * 16 + g + half * 8;
        as[half] = r < row_end ? a_scale[r] : 0.0f;   // past the count the scale may be anything (NaN): never read
    }
#pragma unroll
    for (int j = 0; j < I8T_BN / 8; j++)
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int col = col0 + 8 * j + 2 * t + (q & 1);
#if defined(GE_MUTANT_I8T_SCALE_INDEX)
            const float ws = col < n ? w_scale[(col + 1) % n] : 0.0f;
#else
            const float ws = col < n ? w_scale[col] : 0.0f;
#endif
            v[4 * j + q] = __fmul_rn(__fmul_rn(__int2float_rn(acc[4 * j + q]), ws), as[q >> 1]);
        }
    gw_store_tile<T, I8T_BN, 0>(v, C, row_base, row_end, col0, n, warp, g, t);
}

// Dynamic shared memory: STAGES * (I8T_A_STAGE + I8T_W_STAGE) + 2 * STAGES barriers of 8 bytes + 1024 (alignment of the ring).
template <typename T, int STAGES>
__global__ void __launch_bounds__(I8T_THREADS, 1) int8_act_tma(
    const __grid_constant__ ge_tensor_map a_map,   // A: [rows, K] int8 codes, box 128 x 128, 128-byte swizzle
    const __grid_constant__ ge_tensor_map w_map,   // W: [>= n, K] int8 codes, box 128 x 256, 128-byte swizzle
    const float* __restrict__ a_scale,             // [rows] per token
    const float* __restrict__ w_scale,             // [>= n] per output channel
    unsigned short* __restrict__ C,                // [rows, n] T
    int rows, int n, int K, int column_blocks,     // column_blocks = ceil(n / 256)
    const int* n_tokens) {                         // device token count, or null: every row valid
    static_assert(STAGES >= 2, "a stage in use and one filling");
    constexpr int ACC = I8T_BN / 2;   // int32 accumulators per MMA thread
    unsigned char* base = ptx_dynamic_smem_1024();
    unsigned char* s_a = base;                                   // [STAGES][I8T_A_STAGE]
    unsigned char* s_w = base + STAGES * I8T_A_STAGE;            // [STAGES][I8T_W_STAGE]
    unsigned long long* full = reinterpret_cast<unsigned long long*>(s_w + STAGES * I8T_W_STAGE);
    unsigned long long* empty = full + STAGES;
#if defined(GE_MUTANT_I8T_DROP_LAST_K)
    const int kblocks = (K + I8T_BK - 1) / I8T_BK - 1;
#else
    const int kblocks = (K + I8T_BK - 1) / I8T_BK;
#endif
    // Producer and consumers read the same count, so they walk the same tiles.
    const int valid = ge_valid_rows(n_tokens, rows);
    const int tiles = (valid + I8T_BM - 1) / I8T_BM * column_blocks;
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
            int row0, col0;
            if (!i8t_tile(valid, column_blocks, t, row0, col0)) break;
            for (int kb = 0; kb < kblocks; kb++, it++) {
                const int s = it % STAGES;
                ptx_mbar_wait(&empty[s], ((it / STAGES) & 1) ^ 1);   // the first pass through the ring finds every slot free
                ptx_mbar_arrive_expect_tx(&full[s], I8T_A_STAGE + I8T_W_STAGE);
                ptx_tma_load_2d(s_a + s * I8T_A_STAGE, a_map, &full[s], kb * I8T_BK, row0);
                ptx_tma_load_2d(s_w + s * I8T_W_STAGE, w_map, &full[s], kb * I8T_BK, col0);
            }
        }
        return;
    }

    ptx_setmaxnreg_inc<232>();
    const int mwg = wg - 1, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    int it = 0;   // K tiles consumed, in the producer's order
    for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
        int row0, col0;
        if (!i8t_tile(valid, column_blocks, t, row0, col0)) break;
        const int row_base = row0 + mwg * 64;
        const bool has_rows = row_base < valid;   // uniform per warpgroup
        int acc[ACC];
#pragma unroll
        for (int i = 0; i < ACC; i++) acc[i] = 0;
        for (int kb = 0; kb < kblocks; kb++, it++) {
            const int s = it % STAGES;
            ptx_mbar_wait(&full[s], (it / STAGES) & 1);
            if (has_rows) {
                const unsigned ta = ptx_smem_addr(s_a + s * I8T_A_STAGE + mwg * 64 * I8T_BK);
                const unsigned tw = ptx_smem_addr(s_w + s * I8T_W_STAGE);
                ptx_wgmma_k_tile_s8(acc, ta, tw);
                // One group stays in flight: when this returns, the MMAs of the previous K tile have read their stage.
                ptx_wgmma_wait_group<1>();
                ptx_wgmma_fence_operands<ACC>(acc);
            }
            if (kb > 0) ptx_ring_free(&empty[(it - 1) % STAGES], lane);
        }
        ptx_wgmma_wait_group<0>();
        ptx_wgmma_fence_operands<ACC>(acc);
        // The tile's last stage is free once its MMAs are done; the producer is already filling the next tile's.
        if (kblocks > 0) ptx_ring_free(&empty[(it - 1) % STAGES], lane);
#if defined(GE_MUTANT_I8T_SKIP_PAD_GUARD)
        const int row_end = rows;
#else
        const int row_end = valid;
#endif
        if (has_rows) i8t_store_tile<T>(acc, a_scale, w_scale, C, row_base, row_end, col0, n, warp, g, t4);
    }
}
