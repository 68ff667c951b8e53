// FP8 e4m3 quantizers for block_wise_fp8 and w4afp8.
//  * activations: dynamic, per token, either one scale per 128 channels (block_wise_fp8, DeepGEMM's
//    1x128) or one scale per token (w4afp8). scale = amax / 448, q = e4m3(x / scale).
//  * weights: one scale per 128x128 block (block_wise_fp8), same formula.
// Every float operation is an explicit IEEE-rounded intrinsic (no FMA contraction) so the managed
// reference produces the same bytes. K and N tails are zero-padded up to the next multiple of 128:
// padded columns get q = 0, so they add nothing to a dot product whatever the other side holds.
#include "common.cuh"
#include <cuda_fp8.h>

#define FP8_MAX 448.0f

GE_DEVICE unsigned char fq_e4m3(float v) {
    return (unsigned char)__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
}

// A block of zeros has amax 0: its scale is stored as 0 and every q is 0 (never 0 / 0).
GE_DEVICE unsigned char fq_quant_e4m3(float x, float scale) {
    return scale > 0.0f ? fq_e4m3(__fdiv_rn(x, scale)) : (unsigned char)0;
}

// One block per row, one warp per 128-channel group (4 channels per lane).
// grid = rows (host bound), block = 256.
template <typename T>
__global__ void fp8_quant_act_group128(const T* __restrict__ x,          // [rows, k]
                                       unsigned char* __restrict__ q,    // [rows, kp] e4m3
                                       float* __restrict__ scales,       // [rows, kp / 128]
                                       int rows, int k, int kp, const int* n_tokens) {
    int row = blockIdx.x;
    if (row >= ge_valid_rows(n_tokens, rows)) return;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int groups = kp >> 7;
    const T* xr = x + (long long)row * k;
    unsigned char* qr = q + (long long)row * kp;
    for (int g = warp; g < groups; g += warps) {
        int c0 = (g << 7) + lane * 4;
        float v[4];
        float amax = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int c = c0 + i;
            v[i] = c < k ? ge_to_float(xr[c]) : 0.0f;
            amax = fmaxf(amax, fabsf(v[i]));
        }
        amax = ge_warp_max(amax);
        float scale = __fdiv_rn(amax, FP8_MAX);
        unsigned int packed = 0;
#pragma unroll
        for (int i = 0; i < 4; i++) packed |= (unsigned int)fq_quant_e4m3(v[i], scale) << (8 * i);
        *reinterpret_cast<unsigned int*>(qr + c0) = packed;
#if defined(GE_MUTANT_FP8Q_SCALE_INDEX)
        if (lane == 0) scales[(long long)row * groups + (g + 1) % groups] = scale;
#else
        if (lane == 0) scales[(long long)row * groups + g] = scale;
#endif
    }
}

// One block per row; the whole row shares one scale. grid = rows, block = 256.
template <typename T>
__global__ void fp8_quant_act_per_token(const T* __restrict__ x,         // [rows, k]
                                        unsigned char* __restrict__ q,   // [rows, kp] e4m3
                                        float* __restrict__ scales,      // [rows]
                                        int rows, int k, int kp, const int* n_tokens) {
    __shared__ float warp_max[32];
    int row = blockIdx.x;
    if (row >= ge_valid_rows(n_tokens, rows)) return;
    const T* xr = x + (long long)row * k;
    unsigned char* qr = q + (long long)row * kp;
    float amax = 0.0f;
    for (int c = threadIdx.x; c < k; c += blockDim.x) amax = fmaxf(amax, fabsf(ge_to_float(xr[c])));
    amax = ge_warp_max(amax);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#if defined(GE_MUTANT_FP8Q_RACY_REDUCTION)
    ge_hold_back(warp != 0);
#endif
    if (lane == 0) warp_max[warp] = amax;
#if !defined(GE_MUTANT_FP8Q_RACY_REDUCTION)
    __syncthreads();
#endif
    amax = lane < warps ? warp_max[lane] : 0.0f;
    amax = ge_warp_max(amax);
    float scale = __fdiv_rn(amax, FP8_MAX);
    for (int c = threadIdx.x; c < kp; c += blockDim.x)
        qr[c] = c < k ? fq_quant_e4m3(ge_to_float(xr[c]), scale) : (unsigned char)0;
    if (threadIdx.x == 0) scales[row] = scale;
}

// One block per 128x128 weight block. grid = (kp / 128, np / 128), block = 256.
template <typename T>
__global__ void fp8_quant_weight_block128(const T* __restrict__ w,       // [n, k]
                                          unsigned char* __restrict__ q, // [np, kp] e4m3
                                          float* __restrict__ scales,    // [np / 128, kp / 128]
                                          int n, int k, int kp) {
    __shared__ float warp_max[8];
    int kb = blockIdx.x, nb = blockIdx.y;
    int r0 = nb << 7, c0 = kb << 7;
    float amax = 0.0f;
    for (int i = threadIdx.x; i < 128 * 128; i += blockDim.x) {
        int r = r0 + (i >> 7), c = c0 + (i & 127);
        if (r < n && c < k) amax = fmaxf(amax, fabsf(ge_to_float(w[(long long)r * k + c])));
    }
    amax = ge_warp_max(amax);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_max[warp] = amax;
    __syncthreads();
    amax = lane < (int)(blockDim.x >> 5) ? warp_max[lane] : 0.0f;
    amax = ge_warp_max(amax);
    float scale = __fdiv_rn(amax, FP8_MAX);
    for (int i = threadIdx.x; i < 128 * 128; i += blockDim.x) {
        int r = r0 + (i >> 7), c = c0 + (i & 127);
        float v = (r < n && c < k) ? ge_to_float(w[(long long)r * k + c]) : 0.0f;
        q[(long long)r * kp + c] = fq_quant_e4m3(v, scale);
    }
    if (threadIdx.x == 0) scales[nb * (kp >> 7) + kb] = scale;
}
