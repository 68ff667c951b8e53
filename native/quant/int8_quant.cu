// Dynamic per-token int8 activation quantizer for w8a8 and w4a8: one fp32 scale per row,
// scale = amax / 127, q = clamp(rint(x / scale), -127, 127) with rint rounding half to even.
// The divisions are __fdiv_rn (no reciprocal approximation) so the managed definition
// (Int8Quant.HostQuantizeRow) stores the same bytes. Columns [k, kp) get q = 0: the GEMM then needs
// no K tail (a padded column is 0 on the activation side whatever the weight side holds).
#include "common.cuh"

// A row of zeros has amax 0: its scale is stored as 0 and every q is 0 (never 0 / 0).
GE_DEVICE signed char i8q_quant(float x, float scale) {
    if (!(scale > 0.0f)) return 0;
#if defined(GE_MUTANT_I8Q_TRUNCATE)
    int v = __float2int_rz(__fdiv_rn(x, scale));
#else
    int v = __float2int_rn(__fdiv_rn(x, scale));
#endif
    return (signed char)max(-127, min(127, v));
}

// One block per row; the whole row shares one scale. grid = rows (host bound), block = 256. The trigger lets the GEMM
// that consumes q launch and request its weights while this runs (gemm/int8_act_stream.cu).
// Rows at or past the device token count are not touched.
template <typename T>
__global__ void int8_quant_act_per_token(const T* __restrict__ x,          // [rows, k]
                                         signed char* __restrict__ q,      // [rows, kp]
                                         float* __restrict__ scales,       // [rows]
                                         int rows, int k, int kp, const int* n_tokens) {
    __shared__ float warp_max[32];
    ge_pdl_wait();      // x is the step's (launched dependent: the previous kernel may still be running)
    ge_pdl_trigger();
    int row = blockIdx.x;
    if (row >= ge_valid_rows(n_tokens, rows)) return;
    const T* xr = x + (long long)row * k;
    signed char* qr = q + (long long)row * kp;
    float amax = 0.0f;
    for (int c = threadIdx.x; c < k; c += blockDim.x) amax = fmaxf(amax, fabsf(ge_to_float(xr[c])));
    amax = ge_warp_max(amax);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) warp_max[warp] = amax;
    __syncthreads();
    amax = lane < warps ? warp_max[lane] : 0.0f;
    amax = ge_warp_max(amax);
    float scale = __fdiv_rn(amax, 127.0f);
    for (int c = threadIdx.x; c < kp; c += blockDim.x)
        qr[c] = c < k ? i8q_quant(ge_to_float(xr[c]), scale) : (signed char)0;
    if (threadIdx.x == 0) scales[row] = scale;
}
