// Few-row dense GEMM (bf16 / fp16 weights as a Linear stores them, [N, K] row-major): out[rows, N] = x[rows, K] · Wᵀ
// (+ bias), fp32 accumulation, for rows <= 16. At a handful of rows the product is a stream of the weight matrix, and
// cuBLASLt's few-row kernels measured 1.6-1.74x the bytes-over-bandwidth floor on the H200 at 4096 x 4096.
//
// mma.sync m16n8k16 with the activations as the A operand (16 token rows; rows past `rows` are zeros) and 8 weight
// rows as the B operand, so a block's tile is 8 output channels: thousands of tiles, which spread evenly over the SMs.
// Both operands come straight from global memory into fragment registers, 16 bytes per lane, no shared memory: lane
// (g = lane / 4, t = lane % 4) loads k [8t, 8t + 8) of a 32-wide K chunk, of weight row g and of token rows g and
// g + 8. The m16n8k16 fragments give lane t the logical k {2t, 2t + 1, 2t + 8, 2t + 9} of a k16 step in A and B
// alike, so any assignment of physical k to those logical slots that depends only on t is the same on both sides,
// and the dot product is unchanged: step 0 takes physical k 8t .. 8t + 3, step 1 8t + 4 .. 8t + 7.
//
// The block's warps split K into contiguous ranges and reduce their partials through shared memory in warp order,
// so the result does not depend on timing (graph replay is bit-identical to eager). Each warp keeps GV_UNROLL chunks
// (UNROLL x 16 bytes per lane) of weight loads in flight, and several blocks share an SM.
// Requires K % 8 == 0 and 16-byte aligned rows (the launcher picks cuBLASLt otherwise).
#include "common.cuh"
#include "ptx.cuh"

#define GV_CHUNK 32   // K elements per chunk: 4 lanes x 8

GE_DEVICE uint4 gv_load(const void* base, long long element, bool ok) {
    if (!ok) return make_uint4(0u, 0u, 0u, 0u);
    return __ldg(reinterpret_cast<const uint4*>(base) + (element >> 3));   // element is a multiple of 8
}

// 16 warps per SM, so 128 registers a lane: UNROLL 16 keeps 64 of them as weight loads in flight.
template <typename T, int WARPS, int UNROLL>
__global__ void __launch_bounds__(WARPS * 32, 16 / WARPS)
dense_gemv(const T* __restrict__ x,      // [rows, K]
           const T* __restrict__ w,      // [N, K]
           const T* __restrict__ bias,   // [N] or null
           T* __restrict__ out,          // [rows, N]
           int rows, int N, int K) {
    __shared__ float red[WARPS][32][4];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * 8;
    const int chunks = (K + GV_CHUNK - 1) / GV_CHUNK;
    const int per_warp = (chunks + WARPS - 1) / WARPS;
    const int cb = warp * per_warp;
#if defined(GE_MUTANT_GV_DROP_LAST_K)
    const int ce = min(chunks - 1, cb + per_warp);
#else
    const int ce = min(chunks, cb + per_warp);
#endif
    const bool w_row = n0 + g < N, x_lo = g < rows, x_hi = g + 8 < rows;
    const long long w_base = (long long)(w_row ? n0 + g : 0) * K;
    const long long x_lo_base = (long long)(x_lo ? g : 0) * K, x_hi_base = (long long)(x_hi ? g + 8 : 0) * K;

    // Two accumulator chains (even and odd chunks) so consecutive MMAs do not wait on each other.
    float acc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    for (int c0 = cb; c0 < ce; c0 += UNROLL) {
        uint4 wv[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const int k = (c0 + u) * GV_CHUNK + 8 * t;
            wv[u] = gv_load(w, w_base + k, c0 + u < ce && k < K && w_row);   // K % 8 == 0: 8 elements wholly in or out
        }
        // The activations are a few KiB that every block reads (L1 and L2 hits): loaded per chunk, so the
        // registers go to the weights in flight.
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const int k = (c0 + u) * GV_CHUNK + 8 * t;
            const bool in = c0 + u < ce && k < K;
            const uint4 xl = gv_load(x, x_lo_base + k, in && x_lo), xh = gv_load(x, x_hi_base + k, in && x_hi);
            const unsigned a0[4] = {xl.x, xh.x, xl.y, xh.y};
            const unsigned b0[2] = {wv[u].x, wv[u].y};
            ptx_mma_m16n8k16<T>(acc[u & 1], a0, b0);
            const unsigned a1[4] = {xl.z, xh.z, xl.w, xh.w};
            const unsigned b1[2] = {wv[u].z, wv[u].w};
            ptx_mma_m16n8k16<T>(acc[u & 1], a1, b1);
        }
    }

    // D fragment: e 0, 1 -> token g, channels 2t, 2t + 1; e 2, 3 -> token g + 8.
#if defined(GE_MUTANT_GV_RACY_REDUCTION)
    ge_hold_back(warp != 0);
#endif
#pragma unroll
    for (int e = 0; e < 4; ++e) red[warp][lane][e] = acc[0][e] + acc[1][e];
#if !defined(GE_MUTANT_GV_RACY_REDUCTION)
    __syncthreads();
#endif
    if (warp != 0) return;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const int tok = g + 8 * (e >> 1), n = n0 + 2 * t + (e & 1);
        if (tok >= rows || n >= N) continue;
        float v = 0.0f;
#pragma unroll
        for (int wi = 0; wi < WARPS; ++wi) v += red[wi][lane][e];
        if (bias) v += ge_to_float(bias[n]);
        out[(long long)tok * N + n] = ge_from_float<T>(v);
    }
}
