// Deterministic uniform fill: value(i) = (2 * u - 1) * scale + offset, u = hash(seed ^ hash(i)) / 2^24.
// The reference backend computes the same function, so weights generated on either side agree.
#include "common.cuh"

template <typename T>
__global__ void random_uniform(T* __restrict__ out, // [count]
                               long long count, unsigned int seed, float scale, float offset) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
        unsigned int h = ge_hash32(seed ^ ge_hash32((unsigned int)i ^ (unsigned int)(i >> 32) * 0x9e3779b9U));
        float u = (float)(h >> 8) * (1.0f / 16777216.0f);
        float v = __fmul_rn(__fsub_rn(__fmul_rn(2.0f, u), 1.0f), scale);
#if defined(GE_MUTANT_RANDOM_NO_OFFSET)
        out[i] = ge_from_float<T>(v);
#else
        out[i] = ge_from_float<T>(__fadd_rn(v, offset));
#endif
    }
}
