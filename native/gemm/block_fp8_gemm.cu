// block_wise_fp8 GEMM: C[m, n] = sum_kb (A_q[m, kb] . W_q[n, kb]) * a_scale[m, kb] * w_scale[n / 128, kb]
// with fp8 e4m3 tensor-core MMA (mma.sync m16n8k32, sm_89+). DeepGEMM's scheme: the MMA accumulates
// one 128-wide K block into a fresh fp32 partial, which is then scaled and added to the fp32 total,
// so the two scales are applied exactly once per K block in fp32.
// Tile 64 x 128 x 128, 8 warps (2 along M x 4 along N, 32 x 32 each), cp.async double buffering.
// K and N are padded to 128 at quantization time (zeros), so loads need no K or N bounds; rows past
// the valid token count are zero-filled and never written.
#include "gemm/lowp_tile.cuh"
#include <cuda_fp8.h>

#define BF_BM 64
#define BF_BN 128
#define BF_BK 128
#define BF_THREADS 256

// One pipeline stage: the 64 x 128 activation tile (rows past `valid` zero-filled) and the 128 x 128
// weight tile of K block kb, 16 bytes per cp.async.
GE_DEVICE void bf_load_stage(unsigned char* sa, unsigned char* sw, const unsigned char* a, const unsigned char* w,
                             int m0, int n0, int valid, int kp, int kb, int tid) {
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int idx = tid + i * BF_THREADS, r = idx >> 3, ch = idx & 7;
        bool ok = m0 + r < valid;
        const unsigned char* src = ok ? a + (long long)(m0 + r) * kp + kb * BF_BK + ch * 16 : a;
        ptx_cp_async_cg16_zfill(sa + lp_swz128(r, ch), src, ok);
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int idx = tid + i * BF_THREADS, r = idx >> 3, ch = idx & 7;
        ptx_cp_async_cg16_zfill(sw + lp_swz128(r, ch), w + (long long)(n0 + r) * kp + kb * BF_BK + ch * 16, true);
    }
    ptx_cp_async_commit();
}

template <typename T>
__global__ void __launch_bounds__(BF_THREADS) block_fp8_gemm(
    const unsigned char* __restrict__ a,      // [rows, kp] e4m3
    const float* __restrict__ a_scale,        // [rows, kp / 128]
    const unsigned char* __restrict__ w,      // [np, kp] e4m3
    const float* __restrict__ w_scale,        // [np / 128, kp / 128]
    T* __restrict__ c,                        // [rows, n]
    int rows, int n, int kp, const int* n_tokens) {
    __shared__ __align__(128) unsigned char s_a[2][BF_BM * BF_BK];
    __shared__ __align__(128) unsigned char s_w[2][BF_BN * BF_BK];

    const int valid = ge_valid_rows(n_tokens, rows);
    const int m0 = blockIdx.y * BF_BM, n0 = blockIdx.x * BF_BN;
    if (m0 >= valid) return;
    const int kblocks = kp / BF_BK;
#if defined(GE_MUTANT_BF8_DROP_LAST_K)
    const int kend = kblocks - 1;
#else
    const int kend = kblocks;
#endif
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;

    float acc[2][4][4], part[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = part[i][j][r] = 0.0f;

    bf_load_stage(s_a[0], s_w[0], a, w, m0, n0, valid, kp, 0, tid);
    for (int kb = 0; kb < kend; kb++) {
        int buf = kb & 1;
        if (kb + 1 < kend) { bf_load_stage(s_a[buf ^ 1], s_w[buf ^ 1], a, w, m0, n0, valid, kp, kb + 1, tid); ptx_cp_async_wait<1>(); }
        else ptx_cp_async_wait<0>();
        __syncthreads();
        const unsigned char* sa = s_a[buf];
        const unsigned char* sw = s_w[buf];
#pragma unroll
        for (int ks = 0; ks < BF_BK / 32; ks++) {
            unsigned af[2][4], bfr[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                int r = wm * 32 + mt * 16 + g;
                af[mt][0] = lp_lds32(sa, lp_swz128(r, ks * 2) + 4 * t);
                af[mt][1] = lp_lds32(sa, lp_swz128(r + 8, ks * 2) + 4 * t);
                af[mt][2] = lp_lds32(sa, lp_swz128(r, ks * 2 + 1) + 4 * t);
                af[mt][3] = lp_lds32(sa, lp_swz128(r + 8, ks * 2 + 1) + 4 * t);
            }
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = wn * 32 + nt * 8 + g;
                bfr[nt][0] = lp_lds32(sw, lp_swz128(col, ks * 2) + 4 * t);
                bfr[nt][1] = lp_lds32(sw, lp_swz128(col, ks * 2 + 1) + 4 * t);
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++) ptx_mma_m16n8k32_e4m3(part[mt][nt], af[mt], bfr[nt]);
        }
        // One weight scale covers the whole 128-wide N tile; activation scales are per row.
#if defined(GE_MUTANT_BF8_SCALE_INDEX)
        float ws = w_scale[(n0 / BF_BN) * kblocks + (kb + 1) % kblocks];
#else
        float ws = w_scale[(n0 / BF_BN) * kblocks + kb];
#endif
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
            int r0 = m0 + wm * 32 + mt * 16 + g, r1 = r0 + 8;
            float s0 = r0 < valid ? __fmul_rn(a_scale[(long long)r0 * kblocks + kb], ws) : 0.0f;
            float s1 = r1 < valid ? __fmul_rn(a_scale[(long long)r1 * kblocks + kb], ws) : 0.0f;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                acc[mt][nt][0] += part[mt][nt][0] * s0;
                acc[mt][nt][1] += part[mt][nt][1] * s0;
                acc[mt][nt][2] += part[mt][nt][2] * s1;
                acc[mt][nt][3] += part[mt][nt][3] * s1;
                part[mt][nt][0] = part[mt][nt][1] = part[mt][nt][2] = part[mt][nt][3] = 0.0f;
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = m0 + wm * 32 + mt * 16 + g + half * 8;
#if defined(GE_MUTANT_BF8_SKIP_PAD_GUARD)
            if (r >= rows) continue;
#else
            if (r >= valid) continue;
#endif
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = n0 + wn * 32 + nt * 8 + 2 * t;
                T* dst = c + (long long)r * n;
                if (col < n) dst[col] = ge_from_float<T>(acc[mt][nt][half * 2]);
                if (col + 1 < n) dst[col + 1] = ge_from_float<T>(acc[mt][nt][half * 2 + 1]);
            }
        }
}


// ---------------------------------------------------------------------------------------------
// sm_90a variant (the launcher's pick on Hopper, BlockFp8Gemm.ChooseVariant): one warpgroup per 64 x 128 tile issues
// wgmma.m64n128k32 straight from shared memory. The tiles above are already in wgmma's canonical
// K-major 128-byte-swizzle layout (rows of 128 bytes, 16-byte chunk c of row r at c ^ (r & 7), 8-row
// atoms of 1024 bytes), so only the stage bases need 1024-byte alignment. STAGES-deep cp.async ring.
// The wgmma wrappers (ptx.cuh) compile to a trap where wgmma is unavailable, so this file still builds for sm_89.

// 128 threads; the same stage loader as above but for a 128-thread block.
GE_DEVICE void bf_load_stage_wg(unsigned char* sa, unsigned char* sw, const unsigned char* a, const unsigned char* w,
                                int m0, int n0, int valid, int kp, int kb, int tid) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int idx = tid + i * 128, r = idx >> 3, ch = idx & 7;
        bool ok = m0 + r < valid;
        const unsigned char* src = ok ? a + (long long)(m0 + r) * kp + kb * BF_BK + ch * 16 : a;
        ptx_cp_async_cg16_zfill(sa + lp_swz128(r, ch), src, ok);
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int idx = tid + i * 128, r = idx >> 3, ch = idx & 7;
        ptx_cp_async_cg16_zfill(sw + lp_swz128(r, ch), w + (long long)(n0 + r) * kp + kb * BF_BK + ch * 16, true);
    }
}

// Dynamic shared memory: STAGES * (8 KiB + 16 KiB) + 1 KiB for alignment.
template <typename T, int STAGES>
__global__ void __launch_bounds__(128) block_fp8_gemm_wgmma(
    const unsigned char* __restrict__ a,      // [rows, kp] e4m3
    const float* __restrict__ a_scale,        // [rows, kp / 128]
    const unsigned char* __restrict__ w,      // [np, kp] e4m3
    const float* __restrict__ w_scale,        // [np / 128, kp / 128]
    T* __restrict__ c,                        // [rows, n]
    int rows, int n, int kp, const int* n_tokens) {
    extern __shared__ unsigned char bf_dyn_smem[];
    unsigned char* base = bf_dyn_smem + ((1024 - (ptx_smem_addr(bf_dyn_smem) & 1023)) & 1023);
    unsigned char* s_a = base;                                // [STAGES][64 * 128]
    unsigned char* s_w = base + STAGES * BF_BM * BF_BK;       // [STAGES][128 * 128]

    const int valid = ge_valid_rows(n_tokens, rows);
    const int m0 = blockIdx.y * BF_BM, n0 = blockIdx.x * BF_BN;
    if (m0 >= valid) return;
#if defined(GE_MUTANT_BF8_DROP_LAST_K)
    const int kblocks = kp / BF_BK - 1;
#else
    const int kblocks = kp / BF_BK;
#endif
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;

    float acc[64], part[64];
#pragma unroll
    for (int i = 0; i < 64; i++) acc[i] = part[i] = 0.0f;

#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < kblocks) bf_load_stage_wg(s_a + s * BF_BM * BF_BK, s_w + s * BF_BN * BF_BK, a, w, m0, n0, valid, kp, s, tid);
        ptx_cp_async_commit();
    }
    const int r0 = m0 + warp * 16 + g, r1 = r0 + 8;
    for (int kb = 0; kb < kblocks; kb++) {
        ptx_cp_async_wait<STAGES - 2>();
        ptx_fence_proxy_async_shared();
        __syncthreads();
        // The slot refilled now was read by the wgmma of iteration kb - 1, which every warp has waited for.
        int nk = kb + STAGES - 1;
        if (nk < kblocks) {
            int slot = nk % STAGES;
            bf_load_stage_wg(s_a + slot * BF_BM * BF_BK, s_w + slot * BF_BN * BF_BK, a, w, m0, n0, valid, kp, nk, tid);
        }
        ptx_cp_async_commit();
        int slot = kb % STAGES;
        const unsigned char* ta = s_a + slot * BF_BM * BF_BK;
        const unsigned char* tw = s_w + slot * BF_BN * BF_BK;
        ptx_wgmma_fence_operands<64>(part);
        ptx_wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < BF_BK / 32; ks++)
            ptx_wgmma_m64n128k32_e4m3(part, ptx_wgmma_desc_sw128(ptx_smem_addr(ta) + ks * 32),
                                      ptx_wgmma_desc_sw128(ptx_smem_addr(tw) + ks * 32), ks > 0);
        ptx_wgmma_commit_group();
        ptx_wgmma_wait_group<0>();
        ptx_wgmma_fence_operands<64>(part);
#if defined(GE_MUTANT_BF8_SCALE_INDEX)
        float ws = w_scale[(n0 / BF_BN) * kblocks + (kb + 1) % kblocks];
#else
        float ws = w_scale[(n0 / BF_BN) * kblocks + kb];
#endif
        float s0 = r0 < valid ? __fmul_rn(a_scale[(long long)r0 * kblocks + kb], ws) : 0.0f;
        float s1 = r1 < valid ? __fmul_rn(a_scale[(long long)r1 * kblocks + kb], ws) : 0.0f;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            acc[4 * j] += part[4 * j] * s0;
            acc[4 * j + 1] += part[4 * j + 1] * s0;
            acc[4 * j + 2] += part[4 * j + 2] * s1;
            acc[4 * j + 3] += part[4 * j + 3] * s1;
        }
    }

    // Accumulator layout of wgmma m64nN: warp w holds rows 16w + g and 16w + g + 8; register 4j + {0, 1}
    // is columns 8j + 2t + {0, 1} of the first, 4j + {2, 3} of the second.
#pragma unroll
    for (int half = 0; half < 2; half++) {
        int r = half ? r1 : r0;
#if defined(GE_MUTANT_BF8_SKIP_PAD_GUARD)
        if (r >= rows) continue;
#else
        if (r >= valid) continue;
#endif
        T* dst = c + (long long)r * n;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            int col = n0 + 8 * j + 2 * t;
            if (col < n) dst[col] = ge_from_float<T>(acc[4 * j + 2 * half]);
            if (col + 1 < n) dst[col + 1] = ge_from_float<T>(acc[4 * j + 2 * half + 1]);
        }
    }
}
