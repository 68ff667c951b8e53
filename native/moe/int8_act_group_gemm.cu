// w8a8 / w4a8 MoE group GEMM: C_e = A_e . W_e^T for every expert, one int8_act_tile (gemm/int8_act_tile.cuh)
// per block. blockIdx.y walks the M tiles of all experts in order (lp_find_tile scans the device offsets), so
// the grid is sized from host-known bounds: ceil(rows / BM) + E tiles for prefix sums, E * ceil(P / BM) for
// padded slabs; blocks past the last real tile exit. Rows are absolute in A and C for both layouts.
#include "gemm/int8_act_tile.cuh"

template <typename T, int W4, int GROUPED, int BM, int BN, int WM, int WN, int STAGES, int PREFIX>
__global__ void __launch_bounds__(WM * WN * 32) int8_act_group_gemm(
    const signed char* __restrict__ a,        // [rows, kp] int8 codes (rows = total, or E * P)
    const float* __restrict__ a_scale,        // [rows]
    const int* __restrict__ offsets,          // [E + 1] prefix sums (PREFIX) or [E] counts
    const unsigned char* __restrict__ w,      // [E, np, kp] int8, or [E, np, kp / 2] int4 (W4)
    const float* __restrict__ w_scale,        // [E, kp / 128, np] (GROUPED) or [E, 1, np]
    T* __restrict__ c,                        // [rows, n]
    int experts, int rows_bound, int rows, int n, int np, int kp) {
#ifdef GE_EMULATED_MMA
    unsigned char* smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ __align__(128) unsigned char i8g_dyn_smem[];
    unsigned char* smem = i8g_dyn_smem;
#endif
    int e, row0, row_end;
    if (!lp_find_tile<PREFIX, BM>(offsets, experts, rows_bound, blockIdx.y, e, row0, row_end)) return;
    const long long w_bytes = (long long)np * (W4 ? kp / 2 : kp);
    const int groups = GROUPED ? kp / 128 : 1;
    i8a_tile<T, W4, GROUPED, BM, BN, WM, WN, STAGES>(smem, a, a_scale, w + e * w_bytes, w_scale + (long long)e * groups * np, c,
                                                     row0, row_end, blockIdx.x * BN, rows, n, np, kp);
}
