// w4afp8 MoE group GEMM (after FastDeploy PR #3171, "Support W4Afp8 MoE GroupGemm"): int4 weights x fp8 e4m3 activations on fp8 tensor cores.
//
// Weights are int4 in sign-magnitude form, one nibble s.mmm per value q = (-1)^s * m, m in 0..7.
// In registers each nibble becomes an e4m3 byte by moving the sign to bit 7 and keeping the three
// magnitude bits as the byte's low bits (exponent field 0). An e4m3 byte with exponent field 0 is
// subnormal: its value is 0.mmm (binary) * 2^(1 - bias) with bias 7, i.e. (m / 8) * 2^-6 = m * 2^-9.
// So the MMA sees q * 2^-9 exactly, and the stored weight scale carries the factor 512 (see the host
// quantizer: stored scale = (amax / 7) * 512). No lookup, no int->float conversion: two ANDs, a shift, an OR.
//
// Activations: e4m3 with one dynamic scale per token (fp8_quant.cu). Weight scales: per output
// channel, or per group of 128 along K (then each 128-wide K block's partial is scaled on its own,
// as in block_wise_fp8). Tokens come in either layout of GroupGemmProblem:
//   PREFIX = 1: rows sorted by expert, offsets [E + 1] prefix sums, rows_bound = total rows;
//   PREFIX = 0: padded slabs [E, rows_bound, K], offsets [E] real counts.
// blockIdx.y walks the M tiles of all experts in order; a block past the last real tile exits, so
// the grid is sized from host-known bounds only and the launch is capturable.
//
// Weight layout (pre-shuffled at load time): [E, Np, Kp / 2] bytes. Within each 32-wide K chunk of a
// row (16 bytes), byte b holds element b in its low nibble and element b + 16 in its high nibble, so
// the 32-bit word a lane reads for mma.m16n8k32's B fragment (k = 4t..4t+3 and 16+4t..16+4t+3) is
// exactly its 8 values: low nibbles -> b[0], high nibbles -> b[1].
#include "gemm/lowp_tile.cuh"
#include <cuda_fp8.h>

#define WA_BM 64
#define WA_BN 128
#define WA_BK 128
#define WA_THREADS 256

// Four sign-magnitude nibbles (one per byte, bits 0..3) -> four e4m3 bytes worth m * 2^-9.
GE_DEVICE unsigned wa_nibbles_to_e4m3(unsigned x) { return ((x & 0x08080808u) << 4) | (x & 0x07070707u); }

// Activation tiles: rows of 128 bytes, chunks swizzled by (row & 7). Weight tiles: rows of 64 bytes
// (4 chunks), swizzled by ((row >> 1) & 3): a fragment load reads rows g = 0..7, and the pair
// (g & 1, chunk ^ (g >> 1)) is distinct for all 8, so the 32 lanes hit 32 different banks.
GE_DEVICE int wa_swz_w(int row, int chunk) { return row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4); }

// One pipeline stage: the 64 x 128 e4m3 activation tile (rows past row_end zero-filled) and the
// 128 x 128 int4 weight tile (64 bytes a row) of K block kb.
GE_DEVICE void wa_load_stage(unsigned char* sa, unsigned char* sw, const unsigned char* a, const unsigned char* we,
                             int row0, int row_end, int n0, int kp, int kb, int tid) {
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int idx = tid + i * WA_THREADS, r = idx >> 3, ch = idx & 7;
        bool ok = row0 + r < row_end;
        const unsigned char* src = ok ? a + (long long)(row0 + r) * kp + kb * WA_BK + ch * 16 : a;
        ptx_cp_async_cg16_zfill(sa + lp_swz128(r, ch), src, ok);
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int idx = tid + i * WA_THREADS, r = idx >> 2, ch = idx & 3;
        ptx_cp_async_cg16_zfill(sw + wa_swz_w(r, ch), we + (long long)(n0 + r) * (kp / 2) + kb * (WA_BK / 2) + ch * 16, true);
    }
    ptx_cp_async_commit();
}

template <typename T, int PREFIX, int GROUPED>
__global__ void __launch_bounds__(WA_THREADS) w4afp8_group_gemm(
    const unsigned char* __restrict__ a,      // [total_rows, kp] e4m3 (total_rows = rows_bound or E * rows_bound)
    const float* __restrict__ a_scale,        // [total_rows] per-token dequantization scales
    const int* __restrict__ offsets,          // [E + 1] prefix sums (PREFIX) or [E] counts
    const unsigned char* __restrict__ w,      // [E, np, kp / 2] shuffled sign-magnitude int4
    const float* __restrict__ w_scale,        // [E, GROUPED ? kp / 128 : 1, np], includes the factor 512
    T* __restrict__ c,                        // [total_rows, n]
    int experts, int rows_bound, int n, int np, int kp) {
    __shared__ __align__(128) unsigned char s_a[2][WA_BM * WA_BK];
    __shared__ __align__(128) unsigned char s_w[2][WA_BN * WA_BK / 2];

    int expert, row0, row_end;
    if (!lp_find_tile<PREFIX, WA_BM>(offsets, experts, rows_bound, blockIdx.y, expert, row0, row_end)) return;
    const int n0 = blockIdx.x * WA_BN;
    const int kblocks = kp / WA_BK;
#if defined(GE_MUTANT_W4AFP8_DROP_LAST_K)
    const int kend = kblocks - 1;
#else
    const int kend = kblocks;
#endif
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;
    const unsigned char* we = w + (long long)expert * np * (kp / 2);
    const float* wse = w_scale + (long long)expert * (GROUPED ? kblocks : 1) * np;

    float acc[2][4][4], part[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = part[i][j][r] = 0.0f;

    wa_load_stage(s_a[0], s_w[0], a, we, row0, row_end, n0, kp, 0, tid);
    for (int kb = 0; kb < kend; kb++) {
        int buf = kb & 1;
        if (kb + 1 < kend) { wa_load_stage(s_a[buf ^ 1], s_w[buf ^ 1], a, we, row0, row_end, n0, kp, kb + 1, tid); ptx_cp_async_wait<1>(); }
        else ptx_cp_async_wait<0>();
        __syncthreads();
        const unsigned char* sa = s_a[buf];
        const unsigned char* sw = s_w[buf];
#pragma unroll
        for (int ks = 0; ks < WA_BK / 32; ks++) {
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
                unsigned packed = lp_lds32(sw, wa_swz_w(wn * 32 + nt * 8 + g, ks) + 4 * t);
                bfr[nt][0] = wa_nibbles_to_e4m3(packed & 0x0F0F0F0Fu);
                bfr[nt][1] = wa_nibbles_to_e4m3((packed >> 4) & 0x0F0F0F0Fu);
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++) ptx_mma_m16n8k32_e4m3(part[mt][nt], af[mt], bfr[nt]);
        }
        if (GROUPED) {
            // Group scales differ per output column and per K block: scale this block's partial now.
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = n0 + wn * 32 + nt * 8 + 2 * t;
#if defined(GE_MUTANT_W4AFP8_SCALE_INDEX)
                float s0 = wse[col], s1 = wse[col + 1];
#else
                float s0 = wse[(long long)kb * np + col], s1 = wse[(long long)kb * np + col + 1];
#endif
#pragma unroll
                for (int mt = 0; mt < 2; mt++) {
                    acc[mt][nt][0] += part[mt][nt][0] * s0;
                    acc[mt][nt][1] += part[mt][nt][1] * s1;
                    acc[mt][nt][2] += part[mt][nt][2] * s0;
                    acc[mt][nt][3] += part[mt][nt][3] * s1;
                    part[mt][nt][0] = part[mt][nt][1] = part[mt][nt][2] = part[mt][nt][3] = 0.0f;
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = row0 + wm * 32 + mt * 16 + g + half * 8;
            if (r >= row_end) continue;
            float sa = a_scale[r];
            T* dst = c + (long long)r * n;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = n0 + wn * 32 + nt * 8 + 2 * t;
                float v0, v1;
                if (GROUPED) {
                    v0 = acc[mt][nt][half * 2] * sa;
                    v1 = acc[mt][nt][half * 2 + 1] * sa;
                } else {
#if defined(GE_MUTANT_W4AFP8_SCALE_INDEX)
                    v0 = part[mt][nt][half * 2] * __fmul_rn(wse[col + 1], sa);
#else
                    v0 = part[mt][nt][half * 2] * __fmul_rn(wse[col], sa);
#endif
                    v1 = part[mt][nt][half * 2 + 1] * __fmul_rn(wse[col + 1], sa);
                }
                if (col < n) dst[col] = ge_from_float<T>(v0);
                if (col + 1 < n) dst[col + 1] = ge_from_float<T>(v1);
            }
        }
}

// Load-time quantizer: one block per (weight row, expert), 128 threads. scale = amax / 7 per row or per
// 128-wide K group, q = clamp(rint(w / scale), -7, 7) in sign-magnitude; the stored scale is scale * 512
// (exact) to undo the 2^-9 of the nibble -> e4m3 conversion. Rows past n and columns past k are 0.
GE_DEVICE unsigned wa_quant_nibble(float v, float scale) {
    if (!(scale > 0.0f)) return 0u;
    int q = (int)rintf(__fdiv_rn(v, scale));
    q = max(-7, min(7, q));
    return q < 0 ? (8u | (unsigned)(-q)) : (unsigned)q;
}

template <typename T>
__global__ void w4afp8_quantize(const T* __restrict__ w,        // [E, n, k]
                                unsigned char* __restrict__ q,  // [E, np, kp / 2] shuffled
                                float* __restrict__ scales,     // [E, grouped ? kp / 128 : 1, np]
                                int n, int k, int np, int kp, int grouped) {
    __shared__ float s_scale[256];
    __shared__ float s_warp[32];
    const int row = blockIdx.x, e = blockIdx.y;
    const bool live = row < n;
    const T* wr = w + ((long long)e * n + (live ? row : 0)) * k;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, warps = blockDim.x >> 5;
    const int groups = grouped ? kp / 128 : 1;
    if (grouped) {
        for (int gi = warp; gi < groups; gi += warps) {
            float amax = 0.0f;
            for (int c = gi * 128 + lane; c < gi * 128 + 128; c += 32)
                if (live && c < k) amax = fmaxf(amax, fabsf(ge_to_float(wr[c])));
            amax = ge_warp_max(amax);
            if (lane == 0) s_scale[gi] = __fdiv_rn(amax, 7.0f);
        }
    } else {
        float amax = 0.0f;
        for (int c = tid; c < k; c += blockDim.x)
            if (live) amax = fmaxf(amax, fabsf(ge_to_float(wr[c])));
        amax = ge_warp_max(amax);
        if (lane == 0) s_warp[warp] = amax;
        __syncthreads();
        if (warp == 0) {
            float m = lane < warps ? s_warp[lane] : 0.0f;
            m = ge_warp_max(m);
            if (lane == 0) s_scale[0] = __fdiv_rn(m, 7.0f);
        }
    }
    __syncthreads();
    for (int gi = tid; gi < groups; gi += blockDim.x)
        scales[((long long)e * groups + gi) * np + row] = __fmul_rn(s_scale[gi], 512.0f);
    unsigned char* qr = q + ((long long)e * np + row) * (kp / 2);
    for (int pos = tid; pos < kp / 2; pos += blockDim.x) {
        int k0 = (pos >> 4) * 32 + (pos & 15), k1 = k0 + 16;
        float v0 = (live && k0 < k) ? ge_to_float(wr[k0]) : 0.0f;
        float v1 = (live && k1 < k) ? ge_to_float(wr[k1]) : 0.0f;
        unsigned lo = wa_quant_nibble(v0, s_scale[grouped ? k0 >> 7 : 0]);
        unsigned hi = wa_quant_nibble(v1, s_scale[grouped ? k1 >> 7 : 0]);
        qr[pos] = (unsigned char)(lo | (hi << 4));
    }
}
