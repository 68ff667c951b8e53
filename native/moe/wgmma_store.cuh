// The epilogue of the Hopper group GEMMs (group_gemm_wgmma.cu, group_gemm_tma.cu): one warpgroup's wgmma accumulators
// stored straight from registers, plain or through the fused SwiGLU (swiglu_epilogue.cuh), and the scales of integer
// weights folded into them.
#pragma once
#include "moe/swiglu_epilogue.cuh"

// Stores one warpgroup's m64 x BN accumulator tile (rows row_base .., columns col0 .. of C) as T; rows from row_end and
// columns past C's are skipped. Accumulator layout of wgmma m64nN: warp w holds rows 16w + g and 16w + g + 8; register
// 4j + {0, 1} is columns 8j + 2t + {0, 1} of the first, 4j + {2, 3} of the second. SWIGLU: tile columns [0, BN / 2)
// hold the gate sums of C's columns col0 .., [BN / 2, BN) their up sums (ge_tile_weight_row with SPAN = BN), and C has
// N / 2 columns.
template <typename T, int BN, int SWIGLU>
GE_DEVICE void gw_store_tile(const float* acc, unsigned short* C, int row_base, int row_end, int col0, int N, int warp, int g, int t) {
    T* out = reinterpret_cast<T*>(C);
    constexpr int J = SWIGLU ? BN / 16 : BN / 8;   // n8 column groups of C per thread
    const int ldc = SWIGLU ? N >> 1 : N;            // columns of C
    const bool pairs = (ldc & 1) == 0;   // an even row length keeps every (even column) pair 4-byte aligned
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int r = row_base + warp * 16 + g + half * 8;
#if defined(GE_MUTANT_GW_LAST_ROW)
        if (r >= row_end - 1) continue;
#else
        if (r >= row_end) continue;
#endif
        T* dst = out + (long long)r * ldc;
#pragma unroll
        for (int j = 0; j < J; j++) {
            const int col = col0 + 8 * j + 2 * t;
            const float* s = acc + 4 * j + 2 * half;
            const T v0 = ge_from_float<T>(SWIGLU ? ge_swiglu_of_sums<T>(s[0], s[4 * J]) : s[0]);
            const T v1 = ge_from_float<T>(SWIGLU ? ge_swiglu_of_sums<T>(s[1], s[4 * J + 1]) : s[1]);
            if (pairs && col + 1 < ldc) {
                T pair[2] = {v0, v1};
                *reinterpret_cast<unsigned*>(dst + col) = *reinterpret_cast<const unsigned*>(pair);
            } else {
                if (col < ldc) dst[col] = v0;
                if (col + 1 < ldc) dst[col + 1] = v1;
            }
        }
    }
}


// Integer codes convert exactly, so their scales multiply fp32 sums of one warpgroup's m64 x BN tile (registers as in
// gw_store_tile): GROUPED = 0, the per-channel scale once on the finished sum (acc = acc * s); GROUPED = 1, group grp's
// scale on the partial sum of that group, added to the total (acc += part * s, part cleared for the next group). se is
// the expert's [N, groups] scales; tile column c holds weight row ge_tile_weight_row<SWIGLU, BN>(c), whose scale is 0
// past N (those columns are never stored).
template <int BN, int SWIGLU, int GROUPED>
GE_DEVICE void gw_scale_tile(float* acc, float* part, const float* se, int groups, int grp, int col0, int N, int t) {
#pragma unroll
    for (int j = 0; j < BN / 8; j++) {
        const int r0 = ge_tile_weight_row<SWIGLU, BN>(8 * j + 2 * t, col0, N);
#if defined(GE_MUTANT_GW_SCALE_INDEX)
        // The neighbouring channel's scale (per channel) or the next group's (grouped).
        const int r1 = GROUPED ? ge_tile_weight_row<SWIGLU, BN>(8 * j + 2 * t + 1, col0, N) : r0;
        if (GROUPED) grp = min(grp + 1, groups - 1);
#else
        const int r1 = ge_tile_weight_row<SWIGLU, BN>(8 * j + 2 * t + 1, col0, N);
#endif
        const float s0 = r0 >= 0 ? se[(long long)r0 * groups + grp] : 0.0f;
        const float s1 = r1 >= 0 ? se[(long long)r1 * groups + grp] : 0.0f;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const float s = q & 1 ? s1 : s0;
            float& a = acc[4 * j + q];
            if (GROUPED) {
                a = __fmaf_rn(part[4 * j + q], s, a);
                part[4 * j + q] = 0.0f;
            } else {
                a = __fmaf_rn(a, s, 0.0f);
            }
        }
    }
}
