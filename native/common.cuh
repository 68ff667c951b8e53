// Shared device helpers for every kernel family. Compiled by NVRTC, so only CUDA's own headers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#ifndef GE_DEVICE
#define GE_DEVICE __device__ __forceinline__
#endif

// Stateless 32-bit hash (lowbias32) so a random fill is a pure function of (seed, index) and the
// reference backend reproduces it bit for bit.
GE_DEVICE unsigned int ge_hash32(unsigned int x) {
    x ^= x >> 16; x *= 0x7feb352dU;
    x ^= x >> 15; x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

GE_DEVICE float ge_to_float(float v) { return v; }
GE_DEVICE float ge_to_float(__half v) { return __half2float(v); }
GE_DEVICE float ge_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> GE_DEVICE T ge_from_float(float v);
template <> GE_DEVICE float ge_from_float<float>(float v) { return v; }
template <> GE_DEVICE __half ge_from_float<__half>(float v) { return __float2half_rn(v); }
template <> GE_DEVICE __nv_bfloat16 ge_from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

GE_DEVICE float ge_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

GE_DEVICE float ge_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Racy mutants (check --mutants) drop a barrier. Warps that reach it together hide that on a quiet GPU, so such a
// mutant also holds back the warps that store what the others read, as a busy SM would: the race is lost every time.
GE_DEVICE void ge_hold_back(bool cond) {
    if (cond) __nanosleep(20000);
}

// Valid-token count for kernels that skip padded rows: a null pointer means "all rows are valid".
GE_DEVICE int ge_valid_rows(const int* n_tokens, int rows) {
    return n_tokens ? min(*n_tokens, rows) : rows;
}
