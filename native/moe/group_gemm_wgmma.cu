// Hopper (sm_90a) MoE group GEMM for half-precision weights (bf16 / fp16): C[rows, N] = A[rows, K] x W[e]ᵀ per
// expert, both token layouts, the same arguments and tile schedule as group_gemm.cu (blockIdx.y is a global M-tile
// index walked over the per-expert tile counts; blockIdx.x a BN-column block of N).
//
// Why a second kernel: the mma.sync tile (group_gemm_core.cuh) feeds the tensor cores through ldmatrix and
// registers and measured 26% of the bf16 rate on the H200 at 2048 tokens. Here each warpgroup issues
// wgmma.m64nBNk16 with both operands read by the tensor cores straight from shared memory, asynchronously, so the
// warps are free to stream the next stages in while the MMAs of this one run.
//
// Pipeline: a ring of STAGES K tiles of 64 elements (one 128-byte swizzled row per tile row, the layout wgmma's
// descriptors name), filled with 16-byte cp.async copies by every thread. Iteration kb waits for tile kb, and after
// the block barrier refills the slot of tile kb - 2: each warpgroup keeps one wgmma group in flight across the
// barrier (wait_group 1), so at the barrier of iteration kb every warpgroup has finished tile kb - 2, never kb - 1.
// Tiles in flight ahead of the MMA: STAGES - 2.
//
// BM / 64 warpgroups share each weight tile (GroupGemm.Cuda.cs, Wgmma, says which tile for which rows). A warpgroup whose 64 rows lie past the expert's last row issues no MMA. Rows past the
// expert's end, columns past N and K past its end are zero-filled on load and never stored.
// Requires K % 8 == 0 (16-byte rows chunks); the launcher picks this kernel only then, on sm_90.
//
// SWIGLU = 1 fuses SwiGLU (swiglu_epilogue.cuh): a block's BN weight rows are BN / 2 gate rows and the matching BN / 2
// up rows, one piece of BN (a warpgroup's accumulators span all BN columns), so the gate sum of tile column c and the
// up sum of column c + BN / 2 sit in one thread: registers 4j + q and 4(j + BN / 16) + q. C is [rows, N / 2].
#include "gemm/lowp_tile.cuh"
#include "moe/wgmma_store.cuh"

#define GW_BK 64   // half elements per K tile: one 128-byte swizzled row
static_assert(GW_BK * 2 == 128, "ptx_wgmma_k_tile issues one 128-byte K tile");

template <int BM, int BN>
struct gw_smem {
    static constexpr int a_stage = BM * GW_BK * 2;
    static constexpr int w_stage = BN * GW_BK * 2;
};

// One stage: BM rows of A and BN rows of the expert's W, columns [kb * 64, kb * 64 + 64), in 16-byte chunks.
// BM rows of A, columns [kb * 64, kb * 64 + 64), into a 128-byte-swizzled tile: rows from row_end and columns from k
// zero-filled. Every one of the 2 * BM threads copies four 16-byte chunks.
template <int BM>
GE_DEVICE void gw_load_a(unsigned char* sa, const unsigned char* a, int row0, int row_end, int k, int kb, int tid) {
    constexpr int threads = 2 * BM;
    const long long row_bytes = (long long)k * 2;
    const int col0 = kb * GW_BK;
#pragma unroll
    for (int i = 0; i < BM * 8 / threads; i++) {
        const int idx = tid + i * threads, r = idx >> 3, ch = idx & 7;
        const bool ok = row0 + r < row_end && col0 + ch * 8 < k;
        const unsigned char* src = ok ? a + (row0 + r) * row_bytes + (col0 + ch * 8) * 2 : a;
        ptx_cp_async_cg16_zfill(sa + lp_swz128(r, ch), src, ok);
    }
}

template <int BM, int BN, int SWIGLU>
GE_DEVICE void gw_load_stage(unsigned char* sa, unsigned char* sw, const unsigned char* a, const unsigned char* w,
                             int row0, int row_end, int col0, int n, int k, int kb, int tid) {
    constexpr int threads = 2 * BM;
    const long long row_bytes = (long long)k * 2;
    const int kcol0 = kb * GW_BK;
    gw_load_a<BM>(sa, a, row0, row_end, k, kb, tid);
#pragma unroll
    for (int i = 0; i < (BN * 8 + threads - 1) / threads; i++) {
        const int idx = tid + i * threads, r = idx >> 3, ch = idx & 7;
        if (BN * 8 % threads != 0 && idx >= BN * 8) break;
        const int wr = ge_tile_weight_row<SWIGLU, BN>(r, col0, n);
        const bool ok = wr >= 0 && kcol0 + ch * 8 < k;
        const unsigned char* src = ok ? w + wr * row_bytes + (kcol0 + ch * 8) * 2 : w;
        ptx_cp_async_cg16_zfill(sw + lp_swz128(r, ch), src, ok);
    }
}

// Dynamic shared memory: STAGES * (gw_smem<BM, BN>::a_stage + gw_smem<BM, BN>::w_stage) + 1024 (alignment of the ring).
template <typename T, int BM, int BN, int STAGES, int SWIGLU = 0>
__global__ void __launch_bounds__(2 * BM) group_gemm_wgmma(
    const unsigned short* __restrict__ A, // [rows, K] or [E, P, K] activation bits
    const void* __restrict__ W,           // [E, N, K] T
    const float* __restrict__ scales,     // unused: half weights carry no scales (uniform arguments)
    const int* __restrict__ offsets,      // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,       // [rows, N] or [E, P, N]; SWIGLU: [rows, N / 2] or [E, P, N / 2]
    int experts, int N, int K, int group_size, int groups, int padded_slots) {
    static_assert(BM % 64 == 0 && BM <= 192, "one to three warpgroups of 64 rows");
    static_assert(BN == 64 || BN == 128 || BN == 256, "the wgmma shapes ptx.cuh wraps");
    constexpr int ACC = BN / 2;   // fp32 accumulators per thread
    static_assert(STAGES >= 3, "the ring holds the tile in use, the one in flight behind it and one ahead");
    unsigned char* base = ptx_dynamic_smem_1024();
    unsigned char* s_a = base;
    unsigned char* s_w = base + STAGES * gw_smem<BM, BN>::a_stage;

    int e, row0, row_end;
    const bool found = padded_slots > 0
        ? lp_find_tile<0, BM>(offsets, experts, padded_slots, blockIdx.y, e, row0, row_end)
        : lp_find_tile<1, BM>(offsets, experts, 0x7fffffff, blockIdx.y, e, row0, row_end);
    if (!found) return;
    const int col0 = blockIdx.x * (SWIGLU ? BN / 2 : BN);   // first column of C
    const unsigned char* a = reinterpret_cast<const unsigned char*>(A);
#if defined(GE_MUTANT_GW_EXPERT_OFFSET)
    const unsigned char* w = reinterpret_cast<const unsigned char*>(W) + (long long)e * N * K;
#else
    const unsigned char* w = reinterpret_cast<const unsigned char*>(W) + (long long)e * N * K * 2;
#endif
#if defined(GE_MUTANT_GW_DROP_LAST_K)
    const int kblocks = (K + GW_BK - 1) / GW_BK - 1;
#else
    const int kblocks = (K + GW_BK - 1) / GW_BK;
#endif
    const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const bool has_rows = row0 + wg * 64 < row_end;   // uniform per warpgroup

    float acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; i++) acc[i] = 0.0f;

#pragma unroll
#if defined(GE_MUTANT_GW_RACY_REFILL)
    for (int s = 0; s < STAGES - 1; s++) {
#else
    for (int s = 0; s < STAGES - 2; s++) {
#endif
        if (s < kblocks)
            gw_load_stage<BM, BN, SWIGLU>(s_a + s * gw_smem<BM, BN>::a_stage, s_w + s * gw_smem<BM, BN>::w_stage, a, w, row0, row_end, col0, N, K, s, tid);
        ptx_cp_async_commit();
    }
    for (int kb = 0; kb < kblocks; kb++) {
        // Groups committed so far end with tile kb + STAGES - 3; tile kb is complete when at most STAGES - 3 remain.
#if defined(GE_MUTANT_GW_RACY_REFILL)
        ptx_cp_async_wait<STAGES - 2>();
#else
        ptx_cp_async_wait<STAGES - 3>();
#endif
        ptx_fence_proxy_async_shared();
        __syncthreads();
#if defined(GE_MUTANT_GW_RACY_REFILL)
        const int next = kb + STAGES - 1;
#else
        const int next = kb + STAGES - 2;
#endif
        if (next < kblocks) {
            const int slot = next % STAGES;
            gw_load_stage<BM, BN, SWIGLU>(s_a + slot * gw_smem<BM, BN>::a_stage, s_w + slot * gw_smem<BM, BN>::w_stage, a, w, row0, row_end, col0, N, K, next, tid);
        }
        ptx_cp_async_commit();
        if (has_rows) {
            const int slot = kb % STAGES;
            const unsigned ta = ptx_smem_addr(s_a + slot * gw_smem<BM, BN>::a_stage + wg * 64 * 128);
            const unsigned tw = ptx_smem_addr(s_w + slot * gw_smem<BM, BN>::w_stage);
            ptx_wgmma_k_tile<T, BN>(acc, ta, tw);
            ptx_wgmma_wait_group<1>();
            ptx_wgmma_fence_operands<ACC>(acc);
        }
    }
    ptx_wgmma_wait_group<0>();
    ptx_wgmma_fence_operands<ACC>(acc);
    if (!has_rows) return;

    gw_store_tile<T, BN, SWIGLU>(acc, C, row0 + wg * 64, row_end, col0, N, warp, g, t);
}
