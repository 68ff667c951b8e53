// wi4a16 (after FastDeploy PR #7078, "[Iluvatar] Support wi4a16 group_gemm"): int4 weights, group-wise symmetric (scale = max|w| / 7 per group of 128 along K)
// stored unsigned with a zeros tensor, w = (q - zero) * scale, fp16/bf16 activations.
// Unlike group_gemm.cu its tile list is planned on the HOST from the per-expert token counts (a
// device-to-host read inside the forward), so it launches exactly the tiles that exist and cannot
// be captured into a graph; the engine runs it eagerly.
#include "moe/group_gemm_core.cuh"

// One block per (64-column tile, planned M tile). tiles[i] = {expert, first row, end row, 0}.
template <typename T, int BM, int BK>
__global__ void __launch_bounds__(GG_THREADS) wi4a16_group_gemm(
    const unsigned short* __restrict__ A, // [rows, K] or [E, P, K] activation bits
    const unsigned char* __restrict__ W,  // [E, N, K/2] unsigned nibbles, low nibble = even k
    const float* __restrict__ scales,     // [E, N, K/G]
    const float* __restrict__ zeros,      // [E, N, K/G]
    const int4* __restrict__ tiles,       // [tile count] planned on the host
    unsigned short* __restrict__ C,       // [rows, N] or [E, P, N]
    int N, int K, int group_size, int groups) {
    const int4 t = tiles[blockIdx.y];
    const long long e = t.x;
#if defined(GE_MUTANT_WI4A16_LAST_ROW)
    const int row_end = t.z - 1;
#else
    const int row_end = t.z;
#endif
    ge_group_tile<T, GG_INT4_ZP, BM, BK>(A, t.y, row_end, W + e * N * (K >> 1), scales + e * N * groups, zeros + e * N * groups,
                                     C, N, K, group_size, groups, blockIdx.x * GG_BN);
}

// The wi4a16 quantizer: one warp per (row, group); scale = max|w| / 7, q = rint(w / scale) + 8 in 1..15,
// zero = 8 (ExpertWeightMath.QuantizeSegment with the zero point added, bit for bit).
template <typename T>
__global__ void wi4a16_quantize(const T* __restrict__ w,     // [rows, K]
                                unsigned char* __restrict__ q, // [rows, K/2]
                                float* __restrict__ scales,  // [rows, K/G]
                                float* __restrict__ zeros,   // [rows, K/G]
                                long long rows, int K, int group_size) {
    const int groups = K / group_size;
    const long long seg = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (seg >= rows * groups) return;
    const long long row = seg / groups;
    const int k_begin = (int)(seg % groups) * group_size;
    const T* src = w + row * K;
    float mx = 0.0f;
    for (int k = k_begin + lane; k < k_begin + group_size; k += 32) mx = fmaxf(mx, fabsf(ge_to_float(src[k])));
    mx = ge_warp_max(mx);
    const float s = __fdiv_rn(mx, 7.0f);
#if defined(GE_MUTANT_WI4A16_ZERO_POINT)
    if (lane == 0) { scales[seg] = s; zeros[seg] = 7.0f; }
#else
    if (lane == 0) { scales[seg] = s; zeros[seg] = 8.0f; }
#endif
    for (int k = k_begin + 2 * lane; k < k_begin + group_size; k += 64) {
        int qv[2];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            float r = s > 0.0f ? rintf(__fdiv_rn(ge_to_float(src[k + j]), s)) : 0.0f;
            qv[j] = (int)fminf(fmaxf(r, -7.0f), 7.0f) + 8;
        }
        q[(row * K + k) / 2] = (unsigned char)(qv[0] | (qv[1] << 4));
    }
}
