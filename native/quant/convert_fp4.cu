// FP4 E2M1 conversions by cuda_fp4.h's own functions, for `graphengine check` (see convert.cu).
// On sm_90 these are the header's software path (the cvt.*.e2m1x2 instructions start at sm_100).
#include "common.cuh"
#include <cuda_fp4.h>

GE_DEVICE float ge_fp4_halfraw_to_float(unsigned short bits) {
    __half_raw r;
    r.x = bits;
    return __half2float(__half(r));
}

// Two elements per byte through the x2 intrinsic, so the check also pins the nibble order
// (x.x, element 0, in the low nibble).
extern "C" __global__ void encode_e2m1(const float* __restrict__ x, // [pairs * 2]
                                       unsigned char* __restrict__ y, // [pairs]
                                       long long pairs) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += stride) {
#if defined(GE_MUTANT_FP4_NIBBLE_ORDER)
        float2 v = make_float2(x[2 * i + 1], x[2 * i]);
#else
        float2 v = make_float2(x[2 * i], x[2 * i + 1]);
#endif
        y[i] = (unsigned char)__nv_cvt_float2_to_fp4x2(v, __NV_E2M1, cudaRoundNearest);
    }
}

extern "C" __global__ void decode_e2m1(const unsigned char* __restrict__ x, // [pairs]
                                       float* __restrict__ y, // [pairs * 2]
                                       long long pairs) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += stride) {
        __half2_raw h = __nv_cvt_fp4x2_to_halfraw2((__nv_fp4x2_storage_t)x[i], __NV_E2M1);
        y[2 * i] = ge_fp4_halfraw_to_float(h.x);
        y[2 * i + 1] = ge_fp4_halfraw_to_float(h.y);
    }
}
