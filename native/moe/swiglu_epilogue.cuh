// SwiGLU between the MoE GEMMs, written once: the fp32 arithmetic moe_swiglu (moe_permute.cu) runs, and the epilogue
// that fuses it into the gate/up group GEMM (group_gemm_core.cuh, group_gemm_wgmma.cu), so the [rows, 2F] gate/up
// product is never stored and read back. Fused, the GEMM writes C[rows, F] with column j = silu(gate_j) * up_j,
// gate_j = A . W[j] and up_j = A . W[F + j] (F = N / 2): the weights keep their [2F, K] layout; a block loads the
// gate rows and the matching up rows of its output columns into one tile.
#pragma once
#include "common.cuh"

// silu(g) * u in fp32, no fast math (the reference backend computes the same).
GE_DEVICE float ge_silu_mul(float g, float u) {
    const float silu = g / (1.0f + expf(-g));
    return silu * u;
}

// The fused epilogue's value from the fp32 sums of a gate and an up column (scales applied): both rounded to T first,
// as the unfused path stores them, then ge_silu_mul; the caller rounds the result once. Fused and unfused outputs are
// therefore equal wherever the two kernels' fp32 sums are.
template <typename T>
GE_DEVICE float ge_swiglu_of_sums(float gate, float up) {
#if defined(GE_MUTANT_SWIGLU_EPI_SWAP)
    const float swapped = gate;
    gate = up;
    up = swapped;
#endif
    return ge_silu_mul(ge_to_float(ge_from_float<T>(gate)), ge_to_float(ge_from_float<T>(up)));
}

// The weight row that row r of a block's weight tile holds (-1: past the end, zero-filled and never stored), for a block
// whose columns of C start at col0; N is the weights' row count. Plain: row col0 + r. SWIGLU: the tile is cut into
// pieces of SPAN rows, the columns one thread's accumulator fragments span (a multiple of 16); the first half of piece
// p holds gate rows j = col0 + p * SPAN / 2 + i, the second half the up rows F + j of the same columns, so each thread
// has the gate and the up sum of its C columns in fragments SPAN / 2 columns apart.
template <int SWIGLU, int SPAN>
GE_DEVICE int ge_tile_weight_row(int r, int col0, int N) {
    if (!SWIGLU) return col0 + r < N ? col0 + r : -1;
    static_assert(SWIGLU == 0 || SPAN % 16 == 0, "a gate half and an up half of whole n8 tiles");
    const int ffn = N >> 1, half = SPAN / 2, i = r % SPAN;
    const bool up = i >= half;
    const int j = col0 + (r / SPAN) * half + (up ? i - half : i);
#if defined(GE_MUTANT_SWIGLU_EPI_NEIGHBOUR)
    if (up) return j + 1 < ffn ? ffn + j + 1 : -1;
#endif
    if (j >= ffn) return -1;
    return up ? ffn + j : j;
}
