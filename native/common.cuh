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

// Programmatic dependent launch (PTX griddepcontrol, sm_90+; no-ops elsewhere and when the kernel was launched plainly).
// A kernel launched with CudaKernel.Launch(..., dependent: true) may start while the kernel before it still runs:
// before ge_pdl_wait() it may only read what no kernel of the step writes (weights, scales) and write nothing; after it,
// every earlier kernel has finished and its writes are visible. ge_pdl_trigger() lets the next dependent launch start
// once every block of this grid has called it (or exited); calling it right after the wait keeps at most two grids
// in flight.
GE_DEVICE void ge_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

GE_DEVICE void ge_pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Starts a bulk copy of [p, p + bytes) from memory into L2 and returns at once (sm_90+; a no-op elsewhere): for weights
// a dependent launch reads before ge_pdl_wait(). p 16-byte aligned, bytes a multiple of 16.
GE_DEVICE void ge_prefetch_l2(const void* p, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" :: "l"(p), "r"(bytes) : "memory");
#endif
}

// Valid-token count for kernels that skip padded rows: a null pointer means "all rows are valid".
GE_DEVICE int ge_valid_rows(const int* n_tokens, int rows) {
    return n_tokens ? min(*n_tokens, rows) : rows;
}
