// The scale epilogue of w8a8 at many rows, where the int32 product comes from cuBLASLt's IMMA kernels (exact, as
// ours): out[r, j] = rn(rn(float(c32[r, j]) * w_scale[j]) * a_scale[r]), the per-channel formula of
// gemm/int8_act_tile.cuh with the same explicit roundings, so both paths give the same bits. Rows at or past the
// device token count are not written (cuBLASLt computed them from stale codes; they never reach a valid row).
#include "common.cuh"

// grid = (ceil(n / 256), rows), block = 256: one row per blockIdx.y, consecutive columns per thread.
template <typename T>
__global__ void int8_scale_epilogue(const int* __restrict__ c32,      // [rows, np] exact int32 sums
                                    const float* __restrict__ a_scale, // [rows]
                                    const float* __restrict__ w_scale, // [np]
                                    T* __restrict__ c,                 // [rows, n]
                                    int rows, int n, int np, const int* n_tokens) {
    int r = blockIdx.y;
    if (r >= ge_valid_rows(n_tokens, rows)) return;
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
#if defined(GE_MUTANT_I8E_SCALE_INDEX)
    float ws = w_scale[(j + 1) % np];
#else
    float ws = w_scale[j];
#endif
    float v = __fmul_rn(__int2float_rn(c32[(long long)r * np + j]), ws);
    c[(long long)r * n + j] = ge_from_float<T>(__fmul_rn(v, a_scale[r]));
}
