// Format conversions done by the device's own intrinsics (cuda_fp8.h, cuda_bf16.h, cuda_fp16.h).
// They exist so `graphengine check` can compare the host encoders in src/Kernels/Numerics with what
// the GPU does, bit for bit. One element per thread step, grid-stride. fp4 lives in convert_fp4.cu,
// so a problem with cuda_fp4.h under NVRTC cannot take the fp8 checks down with it.
#include "common.cuh"
#include <cuda_fp8.h>

// On sm_89+ the SATFINITE path is the cvt.rn.satfinite instruction; NOSAT is the header's software
// path. Checking both modes checks both implementations.
template <int E5M2, int SATFINITE>
GE_DEVICE void ge_encode_fp8(const float* __restrict__ x, // [count]
                             unsigned char* __restrict__ y, // [count]
                             long long count) {
#if defined(GE_MUTANT_CONVERT_NO_SATURATION)
    const __nv_saturation_t sat = __NV_NOSAT;
#else
    const __nv_saturation_t sat = SATFINITE ? __NV_SATFINITE : __NV_NOSAT;
#endif
    const __nv_fp8_interpretation_t kind = E5M2 ? __NV_E5M2 : __NV_E4M3;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        y[i] = (unsigned char)__nv_cvt_float_to_fp8(x[i], sat, kind);
}

extern "C" __global__ void encode_e4m3_satfinite(const float* x, unsigned char* y, long long count) { ge_encode_fp8<0, 1>(x, y, count); }
extern "C" __global__ void encode_e4m3_nosat(const float* x, unsigned char* y, long long count) { ge_encode_fp8<0, 0>(x, y, count); }
extern "C" __global__ void encode_e5m2_satfinite(const float* x, unsigned char* y, long long count) { ge_encode_fp8<1, 1>(x, y, count); }
extern "C" __global__ void encode_e5m2_nosat(const float* x, unsigned char* y, long long count) { ge_encode_fp8<1, 0>(x, y, count); }

extern "C" __global__ void encode_bf16(const float* __restrict__ x, // [count]
                                       __nv_bfloat16* __restrict__ y, // [count]
                                       long long count) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        y[i] = __float2bfloat16_rn(x[i]);
}

extern "C" __global__ void encode_f16(const float* __restrict__ x, // [count]
                                      __half* __restrict__ y, // [count]
                                      long long count) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        y[i] = __float2half_rn(x[i]);
}

GE_DEVICE float ge_halfraw_to_float(unsigned short bits) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
}

// Every fp8 value is exact in fp16, so decoding through fp16 (the path CUDA itself takes) loses nothing.
template <int E5M2>
GE_DEVICE void ge_decode_fp8(const unsigned char* __restrict__ x, // [count]
                             float* __restrict__ y, // [count]
                             long long count) {
    const __nv_fp8_interpretation_t kind = E5M2 ? __NV_E5M2 : __NV_E4M3;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        y[i] = ge_halfraw_to_float(__nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)x[i], kind).x);
}

extern "C" __global__ void decode_e4m3(const unsigned char* x, float* y, long long count) { ge_decode_fp8<0>(x, y, count); }
extern "C" __global__ void decode_e5m2(const unsigned char* x, float* y, long long count) { ge_decode_fp8<1>(x, y, count); }
