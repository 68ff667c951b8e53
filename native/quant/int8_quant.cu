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

#define I8Q_THREADS 512
#define I8Q_HELD 4   // 16-byte vectors of the row a thread keeps in registers: 16384 elements of a row at 512 threads

template <typename T> GE_DEVICE float i8q_vec_max(const uint4& v, float amax) {
    const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
    for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(ge_to_float(e[j])));
    return amax;
}

// The 8 codes of vector i of a row into its 8 bytes of q (two 32-bit stores; q rows are 128-byte multiples).
template <typename T> GE_DEVICE void i8q_vec_quant(const uint4& v, float scale, unsigned* q, int i) {
    const T* e = reinterpret_cast<const T*>(&v);
    unsigned b[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) b[j] = (unsigned char)i8q_quant(ge_to_float(e[j]), scale);
    q[2 * i] = b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24;
    q[2 * i + 1] = b[4] | b[5] << 8 | b[6] << 16 | b[7] << 24;
}

// One block of I8Q_THREADS per row; the whole row shares one scale. grid = rows (host bound). Rows at or past the device
// token count are not touched. VEC (k % 8 == 0, 16-byte aligned rows): 16-byte loads, the row's first I8Q_HELD vectors
// a thread requested at once and held in registers for the quantizing pass, so a row costs one memory round trip, not
// one per element per pass (the scalar loop measured 10 us for a 4096-wide row and 29 us at 14336 on the H200, ncu at
// 4a31817); the rest of a longer row is read again. Otherwise one element at a time. The trigger lets the GEMM that
// consumes q launch and request its weights while this runs (gemm/int8_act_stream.cu).
template <typename T, bool VEC>
__global__ void __launch_bounds__(I8Q_THREADS) int8_quant_act_per_token(
    const T* __restrict__ x,          // [rows, k]
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
    const int tid = threadIdx.x;
    float amax = 0.0f;
    uint4 held[VEC ? I8Q_HELD : 1];
    const int nv = k / 8;
    const uint4* xv = reinterpret_cast<const uint4*>(xr);
    if (VEC) {
#pragma unroll
        for (int h = 0; h < I8Q_HELD; ++h) {
            const int i = tid + h * I8Q_THREADS;
            if (i < nv) held[h] = __ldg(xv + i);
        }
#pragma unroll
        for (int h = 0; h < I8Q_HELD; ++h)
            if (tid + h * I8Q_THREADS < nv) amax = i8q_vec_max<T>(held[h], amax);
        for (int i = tid + I8Q_HELD * I8Q_THREADS; i < nv; i += I8Q_THREADS) amax = i8q_vec_max<T>(__ldg(xv + i), amax);
    } else {
        for (int c = tid; c < k; c += I8Q_THREADS) amax = fmaxf(amax, fabsf(ge_to_float(xr[c])));
    }
    amax = ge_warp_max(amax);
    int lane = tid & 31, warp = tid >> 5, warps = I8Q_THREADS >> 5;
    if (lane == 0) warp_max[warp] = amax;
    __syncthreads();
    amax = lane < warps ? warp_max[lane] : 0.0f;
    amax = ge_warp_max(amax);
    float scale = __fdiv_rn(amax, 127.0f);
    if (VEC) {
        unsigned* qw = reinterpret_cast<unsigned*>(qr);
#pragma unroll
        for (int h = 0; h < I8Q_HELD; ++h) {
            const int i = tid + h * I8Q_THREADS;
            if (i < nv) i8q_vec_quant<T>(held[h], scale, qw, i);
        }
        for (int i = tid + I8Q_HELD * I8Q_THREADS; i < nv; i += I8Q_THREADS) i8q_vec_quant<T>(__ldg(xv + i), scale, qw, i);
        for (int c = k + tid; c < kp; c += I8Q_THREADS) qr[c] = 0;
    } else {
        for (int c = tid; c < kp; c += I8Q_THREADS)
            qr[c] = c < k ? i8q_quant(ge_to_float(xr[c]), scale) : (signed char)0;
    }
    if (tid == 0) scales[row] = scale;
}
