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
#ifdef GE_EMULATED_MMA
    unsigned char* gw_dyn_smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ unsigned char gw_dyn_smem[];
#endif
    unsigned char* base = gw_dyn_smem + ((1024 - (ptx_smem_addr(gw_dyn_smem) & 1023)) & 1023);
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
            ptx_wgmma_fence_operands<ACC>(acc);
            ptx_wgmma_fence();
#pragma unroll
            for (int ks = 0; ks < GW_BK / 16; ks++)
                ptx_wgmma_m64k16<T, BN>(acc, ptx_wgmma_desc_sw128(ta + ks * 32), ptx_wgmma_desc_sw128(tw + ks * 32), 1);
            ptx_wgmma_commit_group();
            ptx_wgmma_wait_group<1>();
            ptx_wgmma_fence_operands<ACC>(acc);
        }
    }
    ptx_wgmma_wait_group<0>();
    ptx_wgmma_fence_operands<ACC>(acc);
    if (!has_rows) return;

    gw_store_tile<T, BN, SWIGLU>(acc, C, row0 + wg * 64, row_end, col0, N, warp, g, t);
}

// ---------------------------------------------------------------------------------------------
// Integer weights (int8 per channel, int4 per channel or per group of 64 / 128): the same schedule and A ring, with
// the weight codes streamed as they are stored (half or a quarter of the bytes of half weights) into a raw ring and
// decoded to the activation type in shared memory, where wgmma reads them. Codes convert exactly (ge_decode_w8), so
// as in group_gemm_core.cuh the scales multiply fp32 partial sums: per channel at the end of K, per group at each
// group's end (all MMAs of the group drained first). Two decoded weight tiles alternate: tile kb is decoded into slot
// kb & 1 after the barrier of iteration kb, when the wgmma of tile kb - 2 (the slot's last reader) has finished in
// every warpgroup. Requires K % 64 == 0 and, grouped, a group size that is a multiple of 64. SWIGLU as in
// group_gemm_wgmma: 64 gate and the 64 matching up rows per block, each row's scales its own.
#include "moe/group_gemm_core.cuh"

#define GW_IBN 128   // columns per block: acc and part (64 fp32 each) fit beside the decode

template <int WMODE>
struct gw_int_bytes { static constexpr int row = WMODE == GG_INT8 ? GW_BK : GW_BK / 2; };   // raw bytes per tile row

template <int BM, int WMODE>
struct gw_int_smem {
    static constexpr int a_stage = BM * GW_BK * 2;
    static constexpr int raw_stage = GW_IBN * gw_int_bytes<WMODE>::row;
    static constexpr int w_tile = GW_IBN * GW_BK * 2;
};

// One stage: BM rows of A (gw_load_a) and GW_IBN rows of raw codes, columns [kb * 64, kb * 64 + 64).
template <int BM, int WMODE, int SWIGLU>
GE_DEVICE void gw_int_load_stage(unsigned char* sa, unsigned char* sraw, const unsigned char* a, const unsigned char* w,
                                 int row0, int row_end, int col0, int n, int k, int kb, int tid) {
    constexpr int threads = 2 * BM;
    constexpr int row_bytes_w = gw_int_bytes<WMODE>::row, chunks_w = row_bytes_w / 16;
    const long long w_row = WMODE == GG_INT8 ? (long long)k : (long long)(k >> 1);
    gw_load_a<BM>(sa, a, row0, row_end, k, kb, tid);
#pragma unroll
    for (int i = 0; i < (GW_IBN * chunks_w + threads - 1) / threads; i++) {
        const int idx = tid + i * threads;
        if (GW_IBN * chunks_w % threads != 0 && idx >= GW_IBN * chunks_w) break;
        const int r = idx / chunks_w, ch = idx % chunks_w;
        const int wr = ge_tile_weight_row<SWIGLU, GW_IBN>(r, col0, n);
        const bool ok = wr >= 0;
        const unsigned char* src = ok ? w + wr * w_row + (long long)kb * row_bytes_w + ch * 16 : w;
        ptx_cp_async_cg16_zfill(sraw + r * row_bytes_w + ch * 16, src, ok);
    }
}

// Raw codes of one tile -> the activation type, in the 128-byte-swizzled layout wgmma reads: 8 elements per chunk.
template <typename T, int BM, int WMODE>
GE_DEVICE void gw_int_decode(unsigned char* sw, const unsigned char* sraw, int tid) {
    constexpr int threads = 2 * BM, row_bytes_w = gw_int_bytes<WMODE>::row;
#pragma unroll
    for (int i = 0; i < GW_IBN * 8 / threads; i++) {
        const int idx = tid + i * threads, r = idx >> 3, ch = idx & 7;
        uint4 raw = make_uint4(0u, 0u, 0u, 0u);
        if (WMODE == GG_INT8) {
            const uint2 v = *reinterpret_cast<const uint2*>(sraw + r * row_bytes_w + ch * 8);
            raw.x = v.x; raw.y = v.y;
        } else {
            raw.x = *reinterpret_cast<const unsigned*>(sraw + r * row_bytes_w + ch * 4);
        }
        *reinterpret_cast<uint4*>(sw + lp_swz128(r, ch)) = ge_decode_w8<T, WMODE>(raw, 0.0f);
    }
}

// Dynamic shared memory: STAGES * (a_stage + raw_stage) + 2 * w_tile + 1024 (gw_int_smem).
template <typename T, int WMODE, int BM, int STAGES, int SWIGLU = 0>
__global__ void __launch_bounds__(2 * BM) group_gemm_wgmma_int(
    const unsigned short* __restrict__ A, // [rows, K] or [E, P, K] activation bits
    const void* __restrict__ W,           // [E, N, K] int8 or [E, N, K / 2] packed int4 (low nibble = even k)
    const float* __restrict__ scales,     // [E, N, groups]
    const int* __restrict__ offsets,      // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,       // [rows, N] or [E, P, N]; SWIGLU: [rows, N / 2] or [E, P, N / 2]
    int experts, int N, int K, int group_size, int groups, int padded_slots) {
    static_assert(BM % 64 == 0 && BM <= 128, "one or two warpgroups of 64 rows");
    static_assert(WMODE == GG_INT8 || WMODE == GG_INT4, "signed codes with scales");
    static_assert(STAGES >= 3, "the ring holds the tile in use, the one in flight behind it and one ahead");
    using S = gw_int_smem<BM, WMODE>;
#ifdef GE_EMULATED_MMA
    unsigned char* gw_dyn_smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ unsigned char gw_dyn_smem[];
#endif
    unsigned char* base = gw_dyn_smem + ((1024 - (ptx_smem_addr(gw_dyn_smem) & 1023)) & 1023);
    unsigned char* s_w = base;                                  // [2][w_tile], 1024-aligned tiles
    unsigned char* s_a = base + 2 * S::w_tile;                  // [STAGES][a_stage]
    unsigned char* s_raw = s_a + STAGES * S::a_stage;           // [STAGES][raw_stage]

    int e, row0, row_end;
    const bool found = padded_slots > 0
        ? lp_find_tile<0, BM>(offsets, experts, padded_slots, blockIdx.y, e, row0, row_end)
        : lp_find_tile<1, BM>(offsets, experts, 0x7fffffff, blockIdx.y, e, row0, row_end);
    if (!found) return;
    const int col0 = blockIdx.x * (SWIGLU ? GW_IBN / 2 : GW_IBN);   // first column of C
    const unsigned char* a = reinterpret_cast<const unsigned char*>(A);
    const long long expert_bytes = WMODE == GG_INT8 ? (long long)N * K : (long long)N * (K >> 1);
    const unsigned char* w = reinterpret_cast<const unsigned char*>(W) + (long long)e * expert_bytes;
    const float* se = scales + (long long)e * N * groups;
    const int kblocks = K / GW_BK;
    const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const bool has_rows = row0 + wg * 64 < row_end;   // uniform per warpgroup

    float acc[64], part[64];
#pragma unroll
    for (int i = 0; i < 64; i++) acc[i] = part[i] = 0.0f;
    float sc[GW_IBN / 4];   // the scales of the group being summed, read as it starts so the fold never waits on them
    if (has_rows) gw_load_scales<GW_IBN, SWIGLU>(sc, se, groups, 0, col0, N, t);

#pragma unroll
    for (int s = 0; s < STAGES - 2; s++) {
        if (s < kblocks)
            gw_int_load_stage<BM, WMODE, SWIGLU>(s_a + s * S::a_stage, s_raw + s * S::raw_stage, a, w, row0, row_end, col0, N, K, s, tid);
        ptx_cp_async_commit();
    }
    for (int kb = 0; kb < kblocks; kb++) {
        ptx_cp_async_wait<STAGES - 3>();
        __syncthreads();   // tile kb's copies visible to all; every warpgroup past the wgmma of tile kb - 2
        const int next = kb + STAGES - 2;
        if (next < kblocks) {
            const int slot = next % STAGES;
            gw_int_load_stage<BM, WMODE, SWIGLU>(s_a + slot * S::a_stage, s_raw + slot * S::raw_stage, a, w, row0, row_end, col0, N, K, next, tid);
        }
        ptx_cp_async_commit();
        unsigned char* tile_w = s_w + (kb & 1) * S::w_tile;
        gw_int_decode<T, BM, WMODE>(tile_w, s_raw + (kb % STAGES) * S::raw_stage, tid);
        ptx_fence_proxy_async_shared();   // the decoded tile (and tile kb of A) to the async proxy wgmma reads through
        __syncthreads();
        if (!has_rows) continue;
        const unsigned ta = ptx_smem_addr(s_a + (kb % STAGES) * S::a_stage + wg * 64 * 128);
        const unsigned tw = ptx_smem_addr(tile_w);
        ptx_wgmma_fence_operands<64>(part);
        ptx_wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < GW_BK / 16; ks++)
            ptx_wgmma_m64k16<T, GW_IBN>(part, ptx_wgmma_desc_sw128(ta + ks * 32), ptx_wgmma_desc_sw128(tw + ks * 32), 1);
        ptx_wgmma_commit_group();
        const bool group_end = ((kb + 1) * GW_BK) % group_size == 0 || kb + 1 == kblocks;
        if (!group_end) {
            ptx_wgmma_wait_group<1>();
            ptx_wgmma_fence_operands<64>(part);
            continue;
        }
        ptx_wgmma_wait_group<0>();
        ptx_wgmma_fence_operands<64>(part);
        gw_apply_scales<GW_IBN, 1>(acc, part, sc);
        if (kb + 1 < kblocks) gw_load_scales<GW_IBN, SWIGLU>(sc, se, groups, (kb + 1) * GW_BK / group_size, col0, N, t);
    }
    ptx_wgmma_wait_group<0>();
    if (!has_rows) return;

    gw_store_tile<T, GW_IBN, SWIGLU>(acc, C, row0 + wg * 64, row_end, col0, N, warp, g, t);
}
