// w8a8 / w4a8 Linear GEMM: one int8_act_tile per block over the rows below the device token count. The tile,
// its layouts and its numerics are described in gemm/int8_act_tile.cuh.
#include "gemm/int8_act_tile.cuh"

// grid = (np / BN, ceil(rows / BM)); blocks whose tile starts at or past the device token count exit at once.
template <typename T, int W4, int GROUPED, int BM, int BN, int WM, int WN, int STAGES>
__global__ void __launch_bounds__(WM * WN * 32) int8_act_gemm(
    const signed char* __restrict__ a,        // [rows, kp] int8 codes
    const float* __restrict__ a_scale,        // [rows]
    const unsigned char* __restrict__ w,      // [np, kp] int8, or [np, kp / 2] int4 (W4)
    const float* __restrict__ w_scale,        // [kp / 128, np] (GROUPED) or [1, np]
    T* __restrict__ c,                        // [rows, n]
    int rows, int n, int np, int kp, const int* n_tokens) {
#ifdef GE_EMULATED_MMA
    unsigned char* smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ __align__(128) unsigned char i8a_dyn_smem[];
    unsigned char* smem = i8a_dyn_smem;
#endif
    const int valid = ge_valid_rows(n_tokens, rows);
    const int m0 = blockIdx.y * BM;
    if (m0 >= valid) return;
    i8a_tile<T, W4, GROUPED, BM, BN, WM, WN, STAGES>(smem, a, a_scale, w, w_scale, c, m0, valid, blockIdx.x * BN, rows, n, np, kp);
}
