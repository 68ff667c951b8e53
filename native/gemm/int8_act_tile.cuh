// The tile of the w8a8 / w4a8 GEMMs on the int8 tensor cores (mma.sync m16n8k32 s8.s8.s32, sm_80+), written once
// for the Linear (gemm/int8_act_gemm.cu) and the experts' group GEMM (moe/int8_act_group_gemm.cu):
//   C[m, n] = a_scale[m] * sum_kb w_scale[kb, n] * (A_q[m, kb] . W_q[n, kb])   (GROUPED: one scale per 128 of K)
//   C[m, n] = a_scale[m] * w_scale[0, n] * (A_q[m, :] . W_q[n, :])               (per channel)
// A_q: int8 codes with one fp32 scale per token (quant/int8_quant.cu). W_q: int8 codes (w8a8) or two's
// complement int4 codes (w4a8), K and N zero-padded to 128 at load time, so there is no K tail and no
// weight-row bound. Products accumulate exactly in int32; the scales are applied in fp32 in the epilogue
// with explicit IEEE roundings (no FMA contraction other than the written __fmaf_rn), so the managed
// reference (Int8ActGemm.Reference.cs) produces the same bits.
//
// int4 -> int8 in registers, no dequantise pass: a 32-wide K step of a weight row is 16 bytes, byte b
// holding element b (low nibble) and element b + 16 (high nibble). A lane's B fragment (elements 4t..4t+3
// and 16+4t..16+4t+3) is then one 32-bit word x: (x << 4) & 0xF0F0F0F0 puts the four low nibbles in the
// high halves of four bytes, x & 0xF0F0F0F0 the four high nibbles: int8 bytes worth 16 q each, sign
// included, with no subtraction. The int32 sums are 16x the true ones (|16 q| <= 128, so a 128-wide block
// is below 2^21 and per channel K up to 131072 stays below 2^31); the epilogue multiplies the converted sum
// by 1/16, a power of two, which is exact, so the result equals the unscaled product bit for bit.
//
// Grouped (w4a8 g128): each 128-wide K block's int32 partial is converted, scaled by its weight scale and
// added to an fp32 total, then cleared: exact integer partials, one fp32 rounding per group.
//
// Rows at or past the tile's row end (the device token count, or the expert's last row) are zero-filled on
// load and never stored. Capturable: no host reads, no allocation.
#pragma once
#include "gemm/lowp_tile.cuh"

// Weight rows of 64 bytes (int4: 128 K values), 16-byte chunk c of row r at c ^ ((r >> 1) & 3): the 8 rows a
// fragment load touches (two per 128 bytes) fall on 8 distinct 4-bank groups, so 32 lanes hit 32 banks.
GE_DEVICE int i8a_swz64(int row, int chunk) { return row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4); }

// One pipeline stage: the BM x 128 activation tile (rows past `valid` zero-filled) and the BN weight rows of
// K block kb (128 bytes each for int8, 64 for int4), 16 bytes per cp.async.
template <int W4, int BM, int BN, int THREADS>
GE_DEVICE void i8a_load_stage(unsigned char* sa, unsigned char* sw, const signed char* a, const unsigned char* w,
                              int m0, int n0, int valid, int kp, int kb, int tid) {
    static_assert((BM * 8) % THREADS == 0 && (BN * (W4 ? 4 : 8)) % THREADS == 0, "tile loads must split evenly over the threads");
#pragma unroll
    for (int i = 0; i < BM * 8 / THREADS; i++) {
        int idx = tid + i * THREADS, r = idx >> 3, ch = idx & 7;
        bool ok = m0 + r < valid;
        const signed char* src = ok ? a + (long long)(m0 + r) * kp + kb * 128 + ch * 16 : a;
        ptx_cp_async_cg16_zfill(sa + lp_swz128(r, ch), src, ok);
    }
    if (W4) {
#pragma unroll
        for (int i = 0; i < BN * 4 / THREADS; i++) {
            int idx = tid + i * THREADS, r = idx >> 2, ch = idx & 3;
            ptx_cp_async_cg16_zfill(sw + i8a_swz64(r, ch), w + (long long)(n0 + r) * (kp / 2) + kb * 64 + ch * 16, true);
        }
    } else {
#pragma unroll
        for (int i = 0; i < BN * 8 / THREADS; i++) {
            int idx = tid + i * THREADS, r = idx >> 3, ch = idx & 7;
            ptx_cp_async_cg16_zfill(sw + lp_swz128(r, ch), w + (long long)(n0 + r) * kp + kb * 128 + ch * 16, true);
        }
    }
}

// One BM x BN output tile over rows [m0, row_end) (rows past row_end are zero-filled and never stored) of A and
// the BN weight rows starting at n0. Dynamic shared memory: STAGES * (BM * 128 + BN * (W4 ? 64 : 128)) bytes
// at `smem`. WM x WN warps, each owning (BM / WM) x (BN / WN) of the tile.
template <typename T, int W4, int GROUPED, int BM, int BN, int WM, int WN, int STAGES>
GE_DEVICE void i8a_tile(
    unsigned char* smem,
    const signed char* __restrict__ a,        // [rows, kp] int8 codes
    const float* __restrict__ a_scale,        // [rows]
    const unsigned char* __restrict__ w,      // [np, kp] int8, or [np, kp / 2] int4 (W4), shuffled per 32 of K
    const float* __restrict__ w_scale,        // [kp / 128, np] (GROUPED) or [1, np]
    T* __restrict__ c,                        // [rows, n]
    int m0, int row_end, int n0, int rows, int n, int np, int kp) {
    constexpr int THREADS = WM * WN * 32;
    constexpr int MT = BM / WM / 16, NT = BN / WN / 8;
    constexpr int A_STAGE = BM * 128, W_STAGE = BN * (W4 ? 64 : 128);
    static_assert(MT >= 1 && NT >= 1 && BM % (16 * WM) == 0 && BN % (8 * WN) == 0 && 128 % BN == 0, "tile shape");
    unsigned char* s_a = smem;
    unsigned char* s_w = smem + STAGES * A_STAGE;

    const int valid = row_end;
    const int kblocks = kp / 128;
#if defined(GE_MUTANT_I8A_DROP_LAST_K)
    const int kend = kblocks - 1;
#else
    const int kend = kblocks;
#endif
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN, g = lane >> 2, t = lane & 3;
    const int row_base = wm * (BM / WM), col_base = wn * (BN / WN);

    int acc[MT][NT][4];
    float facc[GROUPED ? MT : 1][GROUPED ? NT : 1][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0;
#pragma unroll
    for (int i = 0; i < (GROUPED ? MT : 1); i++)
#pragma unroll
        for (int j = 0; j < (GROUPED ? NT : 1); j++)
#pragma unroll
            for (int r = 0; r < 4; r++) facc[i][j][r] = 0.0f;

    // STAGES-deep ring: one commit group per stage, empty groups past the end keep the wait count uniform.
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < kend) i8a_load_stage<W4, BM, BN, THREADS>(s_a + s * A_STAGE, s_w + s * W_STAGE, a, w, m0, n0, valid, kp, s, tid);
        ptx_cp_async_commit();
    }
    for (int kb = 0; kb < kend; kb++) {
        ptx_cp_async_wait<STAGES - 2>();
        __syncthreads();
        // The slot refilled now was read in iteration kb - 1, which every thread finished before the barrier.
        int nk = kb + STAGES - 1;
        if (nk < kend) {
            int slot = nk % STAGES;
            i8a_load_stage<W4, BM, BN, THREADS>(s_a + slot * A_STAGE, s_w + slot * W_STAGE, a, w, m0, n0, valid, kp, nk, tid);
        }
        ptx_cp_async_commit();
        const unsigned char* sa = s_a + (kb % STAGES) * A_STAGE;
        const unsigned char* sw = s_w + (kb % STAGES) * W_STAGE;
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
            unsigned af[MT][4], bfr[NT][2];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                int r = row_base + mt * 16 + g;
                af[mt][0] = lp_lds32(sa, lp_swz128(r, ks * 2) + 4 * t);
                af[mt][1] = lp_lds32(sa, lp_swz128(r + 8, ks * 2) + 4 * t);
                af[mt][2] = lp_lds32(sa, lp_swz128(r, ks * 2 + 1) + 4 * t);
                af[mt][3] = lp_lds32(sa, lp_swz128(r + 8, ks * 2 + 1) + 4 * t);
            }
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                int col = col_base + nt * 8 + g;
                if (W4) {
                    unsigned x = lp_lds32(sw, i8a_swz64(col, ks) + 4 * t);
                    bfr[nt][0] = (x << 4) & 0xF0F0F0F0u;
                    bfr[nt][1] = x & 0xF0F0F0F0u;
                } else {
                    bfr[nt][0] = lp_lds32(sw, lp_swz128(col, ks * 2) + 4 * t);
                    bfr[nt][1] = lp_lds32(sw, lp_swz128(col, ks * 2 + 1) + 4 * t);
                }
            }
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++) ptx_mma_m16n8k32_s8(acc[mt][nt], af[mt], bfr[nt]);
        }
        if (GROUPED) {
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    int col = n0 + col_base + nt * 8 + 2 * t + j;
#if defined(GE_MUTANT_I8A_SCALE_INDEX)
                    float ws = w_scale[(long long)((kb + 1) % kblocks) * np + col];
#else
                    float ws = w_scale[(long long)kb * np + col];
#endif
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
#pragma unroll
                        for (int h = 0; h < 2; h++) {
                            float part = __int2float_rn(acc[mt][nt][h * 2 + j]);
                            if (W4) part = __fmul_rn(part, 0.0625f);
                            facc[GROUPED ? mt : 0][GROUPED ? nt : 0][h * 2 + j] = __fmaf_rn(part, ws, facc[GROUPED ? mt : 0][GROUPED ? nt : 0][h * 2 + j]);
                            acc[mt][nt][h * 2 + j] = 0;
                        }
                }
        }
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = m0 + row_base + mt * 16 + g + h * 8;
#if defined(GE_MUTANT_I8A_SKIP_PAD_GUARD)
            if (r >= rows) continue;
#else
            if (r >= valid) continue;
#endif
            float as = a_scale[r];
            T* dst = c + (long long)r * n;
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int j = 0; j < 2; j++) {
                    int col = n0 + col_base + nt * 8 + 2 * t + j;
                    if (col >= n) continue;
                    float v;
                    if (GROUPED) {
                        v = facc[GROUPED ? mt : 0][GROUPED ? nt : 0][h * 2 + j];
                    } else {
                        v = __int2float_rn(acc[mt][nt][h * 2 + j]);
                        if (W4) v = __fmul_rn(v, 0.0625f);
#if defined(GE_MUTANT_I8A_SCALE_INDEX)
                        v = __fmul_rn(v, w_scale[(col + 1) % np]);
#else
                        v = __fmul_rn(v, w_scale[col]);
#endif
                    }
                    dst[col] = ge_from_float<T>(__fmul_rn(v, as));
                }
        }
}
