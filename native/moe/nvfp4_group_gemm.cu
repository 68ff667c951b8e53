// nvfp4 (ModelOpt fp4) MoE on Hopper: quantizer and group GEMM.
//
// Format: w = e2m1(q) * e4m3(block_scale) * global, one e4m3 block scale per 16 elements along K and
// one fp32 global scale per expert. global = amax / (448 * 6); block_scale = e4m3(amax_block / 6 / global);
// q = e2m1(w / (block_scale * global)), round to nearest even, saturating. Every float operation is an
// explicit IEEE-rounded intrinsic so the managed quantizer produces the same bytes.
//
// Hopper has no fp4 MMA: the GEMM expands each nibble to its value, multiplies by the decoded block
// scale (e2m1 x e4m3 has at most 5 significant bits and lies in [2^-10, 2688], so the product is exact in
// bf16 and in fp16), feeds bf16 / fp16 mma.sync m16n8k16, and applies the global scale once at the end.
//
// Layouts (N padded to 128, K padded to 64, padding is zero):
//   q       [E, np, kp / 2] bytes. Within each 64-wide K chunk of a row (32 bytes), the byte at
//           t*8 + s*2 + h (t, s in 0..3, h in 0..1) is the natural byte s*8 + t + 4h (natural byte j
//           holds elements 2j low and 2j + 1 high). Lane t of mma.m16n8k16 needs, for k-step s, the
//           elements 2t, 2t+1, 2t+8, 2t+9: natural bytes s*8+t and s*8+t+4, now one 16-bit word, and
//           all four k-steps of the chunk are one 8-byte load.
//   scales  [E, kp / 64, np, 4] e4m3: the 4 block scales of a row's 64-wide chunk, contiguous.
//   global  [E] fp32.
#include "gemm/lowp_tile.cuh"
#include <cuda_fp8.h>

#define NV_BM 64
#define NV_BN 128
#define NV_BK 64
#define NV_THREADS 256
// A 3-deep cp.async ring: at small token counts the kernel streams weights, and two tiles in flight per
// block (plus two blocks per SM) keep enough bytes outstanding to approach the memory bandwidth.
#define NV_STAGES 3

GE_DEVICE unsigned nv_pack(float lo, float hi, const __nv_bfloat16*) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&v);
}
GE_DEVICE unsigned nv_pack(float lo, float hi, const __half*) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&v);
}

// e2m1 nibble s.ee.m -> float: magnitudes 0, 0.5 (subnormal), then (1 + m/2) * 2^(e-1).
GE_DEVICE float nv_e2m1_to_float(unsigned nib) {
    unsigned m = nib & 7u;
    float v = m < 2u ? 0.5f * (float)m : __uint_as_float((((m >> 1) + 126u) << 23) | ((m & 1u) << 22));
    return (nib & 8u) ? -v : v;
}

// e4m3 byte -> float (scales are finite and non-negative; no NaN handling needed).
GE_DEVICE float nv_e4m3_to_float(unsigned b) {
    unsigned e = (b >> 3) & 15u, m = b & 7u;
    float v = e ? __uint_as_float(((e + 120u) << 23) | (m << 20)) : (float)m * 0.001953125f;
    return (b & 0x80u) ? -v : v;
}

// float -> e2m1 as cuda_fp4.h's __nv_cvt_float_to_fp4 (cudaRoundNearest): nearest even, saturating
// to 6, the sign kept (also for -0), NaN -> +6. Written out so it is plainly the host's definition.
GE_DEVICE unsigned nv_float_to_e2m1(float f) {
    if (f != f) return 7u;
    unsigned sign = (__float_as_uint(f) >> 31) << 3;
    float a = fabsf(f);
    unsigned c = a <= 0.25f ? 0u : a < 0.75f ? 1u : a <= 1.25f ? 2u : a < 1.75f ? 3u
               : a <= 2.5f ? 4u : a < 3.5f ? 5u : a <= 5.0f ? 6u : 7u;
    return sign | c;
}



// One pipeline stage of K block kb: the 64 x 64 activation tile (rows past row_end and columns past k
// zero-filled), the 128 x 64 fp4 weight tile (32 bytes a row) and its 128 x 4 block scales.
template <typename T>
GE_DEVICE void nv_load_stage(unsigned char* sa, unsigned char* sw, unsigned char* ss, const T* a, const unsigned char* qe,
                             const unsigned char* se, int row0, int row_end, int n0, int k, int np, int kp, int kb, int tid) {
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int idx = tid + i * NV_THREADS, r = idx >> 3, ch = idx & 7;
        int col = kb * NV_BK + ch * 8;
        bool ok = row0 + r < row_end && col < k;
        const T* src = ok ? a + (long long)(row0 + r) * k + col : a;
        ptx_cp_async_cg16_zfill(sa + lp_swz128(r, ch), src, ok);
    }
    {
        int r = tid >> 1, ch = tid & 1;
        ptx_cp_async_cg16_zfill(sw + r * 32 + ch * 16, qe + (long long)(n0 + r) * (kp / 2) + kb * (NV_BK / 2) + ch * 16, true);
    }
    if (tid < NV_BN * 4 / 16)
        ptx_cp_async_cg16_zfill(ss + tid * 16, se + ((long long)kb * np + n0) * 4 + tid * 16, true);
    ptx_cp_async_commit();
}

template <typename T, int PREFIX>
__global__ void __launch_bounds__(NV_THREADS) nvfp4_group_gemm(
    const T* __restrict__ a,                  // [total_rows, k], k % 8 == 0
    const int* __restrict__ offsets,          // [E + 1] prefix sums (PREFIX) or [E] counts
    const unsigned char* __restrict__ q,      // [E, np, kp / 2] shuffled e2m1
    const unsigned char* __restrict__ scales, // [E, kp / 64, np, 4] e4m3
    const float* __restrict__ global_scale,   // [E]
    T* __restrict__ c,                        // [total_rows, n]
    int experts, int rows_bound, int n, int k, int np, int kp) {
    __shared__ __align__(128) unsigned char s_a[NV_STAGES][NV_BM * NV_BK * 2];
    __shared__ __align__(128) unsigned char s_w[NV_STAGES][NV_BN * NV_BK / 2];
    __shared__ __align__(128) unsigned char s_s[NV_STAGES][NV_BN * 4];

    int expert, row0, row_end;
    if (!lp_find_tile<PREFIX, NV_BM>(offsets, experts, rows_bound, blockIdx.y, expert, row0, row_end)) return;
    const int n0 = blockIdx.x * NV_BN;
    const int kblocks = kp / NV_BK;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;
    const unsigned char* qe = q + (long long)expert * np * (kp / 2);
    const unsigned char* se = scales + (long long)expert * kblocks * np * 4;

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

#pragma unroll
    for (int st = 0; st < NV_STAGES - 1; st++) {
        if (st < kblocks) nv_load_stage<T>(s_a[st], s_w[st], s_s[st], a, qe, se, row0, row_end, n0, k, np, kp, st, tid);
        else ptx_cp_async_commit();                       // keep one commit group per stage so the waits count right
    }
#if defined(GE_MUTANT_NVFP4_DROP_LAST_K)
    for (int kb = 0; kb < kblocks - 1; kb++) {
#else
    for (int kb = 0; kb < kblocks; kb++) {
#endif
        ptx_cp_async_wait<NV_STAGES - 2>();
        __syncthreads();
        // The slot refilled now was read in iteration kb - 1, which every warp has finished (barrier above).
        int nk = kb + NV_STAGES - 1;
        if (nk < kblocks) nv_load_stage<T>(s_a[nk % NV_STAGES], s_w[nk % NV_STAGES], s_s[nk % NV_STAGES], a, qe, se,
                                           row0, row_end, n0, k, np, kp, nk, tid);
        else ptx_cp_async_commit();
        const int buf = kb % NV_STAGES;
        const unsigned char* sa = s_a[buf];
        uint2 wv[4];
        unsigned sc[4];
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
            int r = wn * 32 + nt * 8 + g;
            wv[nt] = *reinterpret_cast<const uint2*>(&s_w[buf][r * 32 + t * 8]);
            sc[nt] = *reinterpret_cast<const unsigned*>(&s_s[buf][r * 4]);
        }
#pragma unroll
        for (int ks = 0; ks < NV_BK / 16; ks++) {
            unsigned af[2][4], bfr[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                int r = wm * 32 + mt * 16 + g;
                af[mt][0] = *reinterpret_cast<const unsigned*>(sa + lp_swz128(r, ks * 2) + 4 * t);
                af[mt][1] = *reinterpret_cast<const unsigned*>(sa + lp_swz128(r + 8, ks * 2) + 4 * t);
                af[mt][2] = *reinterpret_cast<const unsigned*>(sa + lp_swz128(r, ks * 2 + 1) + 4 * t);
                af[mt][3] = *reinterpret_cast<const unsigned*>(sa + lp_swz128(r + 8, ks * 2 + 1) + 4 * t);
            }
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                unsigned h = ((ks < 2 ? wv[nt].x : wv[nt].y) >> ((ks & 1) * 16)) & 0xFFFFu;
#if defined(GE_MUTANT_NVFP4_SCALE_INDEX)
                float bs = nv_e4m3_to_float((sc[nt] >> (8 * (ks ^ 1))) & 0xFFu);
#else
                float bs = nv_e4m3_to_float((sc[nt] >> (8 * ks)) & 0xFFu);
#endif
                bfr[nt][0] = nv_pack(nv_e2m1_to_float(h & 15u) * bs, nv_e2m1_to_float((h >> 4) & 15u) * bs, (const T*)0);
                bfr[nt][1] = nv_pack(nv_e2m1_to_float((h >> 8) & 15u) * bs, nv_e2m1_to_float((h >> 12) & 15u) * bs, (const T*)0);
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++) ptx_mma_m16n8k16<T>(acc[mt][nt], af[mt], bfr[nt]);
        }
    }

    const float gs = global_scale[expert];
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = row0 + wm * 32 + mt * 16 + g + half * 8;
            if (r >= row_end) continue;
            T* dst = c + (long long)r * n;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = n0 + wn * 32 + nt * 8 + 2 * t;
                if (col < n) dst[col] = ge_from_float<T>(acc[mt][nt][half * 2] * gs);
                if (col + 1 < n) dst[col + 1] = ge_from_float<T>(acc[mt][nt][half * 2 + 1] * gs);
            }
        }
}

// Quantizer, step 1: per-expert amax as float bits (non-negative floats order like unsigned ints).
// grid = (blocks, E), block = 256; amax must be zeroed before.
template <typename T>
__global__ void nvfp4_amax(const T* __restrict__ w,   // [E, n * k]
                           unsigned* __restrict__ amax, // [E]
                           long long per_expert) {
    __shared__ float s_warp[8];
    const T* we = w + (long long)blockIdx.y * per_expert;
    float m = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < per_expert; i += (long long)gridDim.x * blockDim.x)
        m = fmaxf(m, fabsf(ge_to_float(we[i])));
    m = ge_warp_max(m);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) s_warp[warp] = m;
    __syncthreads();
    if (warp == 0) {
        m = lane < (int)(blockDim.x >> 5) ? s_warp[lane] : 0.0f;
        m = ge_warp_max(m);
        if (lane == 0) atomicMax(amax + blockIdx.y, __float_as_uint(m));
    }
}

// Quantizer, step 2: one thread per (row, 16-wide K block). grid = (ceil(np * kp / 16 / 256), E).
template <typename T>
__global__ void nvfp4_quantize(const T* __restrict__ w,            // [E, n, k]
                               const unsigned* __restrict__ amax,  // [E] float bits
                               unsigned char* __restrict__ q,      // [E, np, kp / 2] shuffled
                               unsigned char* __restrict__ scales, // [E, kp / 64, np, 4]
                               float* __restrict__ global_scale,   // [E]
                               int n, int k, int np, int kp) {
    const int e = blockIdx.y;
    const int blocks_per_row = kp / 16;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)np * blocks_per_row) return;
    int row = (int)(i / blocks_per_row), b = (int)(i % blocks_per_row);
    float am = __uint_as_float(amax[e]);
    float gs = am > 0.0f ? __fdiv_rn(am, 2688.0f) : 1.0f;
    if (i == 0) global_scale[e] = gs;

    float v[16];
    float bmax = 0.0f;
    const T* wr = w + ((long long)e * n + (row < n ? row : 0)) * k;
#pragma unroll
    for (int j = 0; j < 16; j++) {
        int col = b * 16 + j;
        v[j] = (row < n && col < k) ? ge_to_float(wr[col]) : 0.0f;
        bmax = fmaxf(bmax, fabsf(v[j]));
    }
    unsigned bs = (unsigned)__nv_cvt_float_to_fp8(__fdiv_rn(__fdiv_rn(bmax, 6.0f), gs), __NV_SATFINITE, __NV_E4M3);
    float denom = __fmul_rn(nv_e4m3_to_float(bs), gs);
    int chunk = b >> 2, s = b & 3;
    unsigned char* qr = q + ((long long)e * np + row) * (kp / 2) + chunk * 32;
#pragma unroll
    for (int u = 0; u < 8; u++) {
        unsigned lo = denom > 0.0f ? nv_float_to_e2m1(__fdiv_rn(v[2 * u], denom)) : 0u;
        unsigned hi = denom > 0.0f ? nv_float_to_e2m1(__fdiv_rn(v[2 * u + 1], denom)) : 0u;
        int tt = u & 3, h = u >> 2;
        qr[tt * 8 + s * 2 + h] = (unsigned char)(lo | (hi << 4));
    }
    scales[(((long long)e * (kp / 64) + chunk) * np + row) * 4 + s] = (unsigned char)bs;
}
