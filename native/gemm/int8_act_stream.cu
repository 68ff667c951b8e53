// Few-row w8a8 / w4a8 Linear: one i8s_tile per block (gemm/int8_act_stream.cuh, which describes the tile, its
// layouts and its numerics). grid = (np / 8, ceil(rows / TOK)), block = 128; blocks whose tokens start at or past the
// device token count exit after requesting their first weights. Launched dependent: the weights come before the wait.
#include "gemm/int8_act_stream.cuh"

template <typename T, int W4, int GROUPED, int TOK, int UNROLL>
__global__ void __launch_bounds__(I8S_THREADS, 4) int8_act_stream(
    const signed char* __restrict__ a,        // [rows, kp] int8 codes
    const float* __restrict__ a_scale,        // [rows]
    const unsigned char* __restrict__ w,      // [np, kp] int8, or [np, kp / 2] int4 (W4)
    const float* __restrict__ w_scale,        // [kp / 128, np] (GROUPED) or [1, np]
    T* __restrict__ c,                        // [rows, n]
    int rows, int n, int np, int kp, const int* n_tokens) {
#ifdef GE_EMULATED_MMA
    unsigned char* smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ __align__(16) unsigned char i8s_dyn_smem[];
    unsigned char* smem = i8s_dyn_smem;
#endif
    i8s_tile<T, W4, GROUPED, TOK, UNROLL>(smem, a, a_scale, w, w_scale, c, blockIdx.y * TOK, blockIdx.x * I8S_COLS, rows, n, np, kp, n_tokens);
}
