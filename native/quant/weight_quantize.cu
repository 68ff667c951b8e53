// Weight quantizers for the weight-only GEMM: float weights -> symmetric int8 / int4 with fp32 scales,
// then the repack into the layout weight_only_gemm.cu reads (see the layout comment there).
// The arithmetic is exactly the host quantizer's (WeightOnlyPacking.Quantize): max|w| in fp32 (a max
// is order-independent, so it is exact), scale = max / qmax and q = rint(w / scale) with IEEE
// round-to-nearest divisions, clamp to [-qmax, qmax]. Both backends therefore store identical bytes.
#include "common.cuh"

// One block per (row, group). q: logical int8 values, row-major like the weights.
template <typename T>
__global__ void wq_quantize(const T* __restrict__ w,      // [N, K]
                            signed char* __restrict__ q,  // [N, K]
                            float* __restrict__ scales,   // [N, groups]
                            int N, int K, int group, int qmax) {
    __shared__ float warp_max[32];
    const int groups = K / group;
    const int n = blockIdx.x / groups;
    const int gi = blockIdx.x - n * groups;
    const long long base = (long long)n * K + (long long)gi * group;

    float m = 0.0f;
    for (int k = threadIdx.x; k < group; k += blockDim.x) {
        float a = fabsf(ge_to_float(w[base + k]));
        m = a > m ? a : m;   // NaN never compares greater: ignored, as on the host
    }
    m = ge_warp_max(m);
    if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x + 31) / 32 ? warp_max[threadIdx.x] : 0.0f;
        v = ge_warp_max(v);
#if defined(GE_MUTANT_WQ_RACY_REDUCTION)
        ge_hold_back(true);   // warp 0 stores the maximum the others read
#endif
        if (threadIdx.x == 0) warp_max[0] = v;
    }
#if !defined(GE_MUTANT_WQ_RACY_REDUCTION)
    __syncthreads();
#endif
    const float scale = __fdiv_rn(warp_max[0], (float)qmax);
    for (int k = threadIdx.x; k < group; k += blockDim.x) {
        float v = scale == 0.0f ? 0.0f : rintf(__fdiv_rn(ge_to_float(w[base + k]), scale));
        if (v != v) v = 0.0f;
        v = fminf(fmaxf(v, (float)-qmax), (float)qmax);
        q[base + k] = (signed char)(int)v;
    }
    if (threadIdx.x == 0) scales[(long long)n * groups + gi] = scale;
}

// One thread per (ntile, chunk, lane): writes that lane's 16 bytes. Elements past N or K are zero.
template <bool INT4>
__global__ void wq_repack(const signed char* __restrict__ q,  // [N, K]
                          uint4* __restrict__ packed,         // [Npad/16, chunks_k, 32] x 16 bytes
                          int N, int K, int chunks_k, long long total) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const int lane = (int)(idx & 31);
    const long long rest = idx >> 5;
    const int chunk = (int)(rest % chunks_k);
    const int ntile = (int)(rest / chunks_k);
    const int g = lane >> 2, t = lane & 3;
    constexpr int CHUNK_K = INT4 ? 64 : 32;
    __align__(16) unsigned char bytes[16];
#pragma unroll
    for (int b = 0; b < 16; ++b) {
        unsigned char v = 0;
#pragma unroll
        for (int h = 0; h < (INT4 ? 2 : 1); ++h) {
            int kt, e;
            if (INT4) {
                int p = 2 * (b & 3) + h;          // nibble position in word b / 4
                kt = b >> 2;
                e = p < 4 ? 2 * p : 2 * (p - 4) + 1;
            } else {
                kt = b >> 3;
                e = b & 7;
            }
            int n = ntile * 16 + g + ((e >> 1) & 1) * 8;
            int k = chunk * CHUNK_K + kt * 16 + 2 * t + (e & 1) + (e >> 2) * 8;
            int qv = (n < N && k < K) ? (int)q[(long long)n * K + k] : 0;
            if (INT4) v |= (unsigned char)(((qv + 8) & 0xF) << (4 * h));
            else v = (unsigned char)((qv + 128) & 0xFF);
        }
        bytes[b] = v;
    }
    packed[idx] = *reinterpret_cast<const uint4*>(bytes);
}

// scales [N, groups] -> [groups, Npad], zero in the padding.
extern "C" __global__ void wq_repack_scales(const float* __restrict__ s,  // [N, groups]
                                 float* __restrict__ out,      // [groups, Npad]
                                 int N, int groups, int Npad) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= groups * Npad) return;
    const int gi = idx / Npad, n = idx - gi * Npad;
    out[idx] = n < N ? s[(long long)n * groups + gi] : 0.0f;
}
