// The few-row weight-streaming tile of the w8a8 / w4a8 Linear (gemm/int8_act_stream.cu) on the int8 tensor cores, the
// int8 counterpart of gemm/dense_gemv.cu. Taken per expert for the group GEMM it lost to the small tile on the H200 at
// 35f1d9d (ERNIE's expert layer at 16 tokens 0.50 ms against 0.25: 8-row column blocks give four times the blocks, most
// of them with a row or two), so the experts keep the tiles.
// At up to 16 token rows the GEMM is a stream of the weight matrix (each byte is needed once, the MMAs are nearly
// free), and what sets its speed is how many weight bytes are in flight per SM.
//
// - mma.sync m16n8k32 s8 with TOK (8 or 16) token rows as the A operand (rows past the token count, and the upper 8
//   when TOK is 8, are zeros) and 8 weight rows as B, so a block's tile is 8 output channels: thousands of tiles,
//   four blocks of four warps per SM.
// - Operands come straight from global memory into fragment registers, 16 bytes per lane, no shared memory. Lane
//   (g = lane / 4, t = lane % 4) loads the 16 bytes at 16t of a chunk of weight row g: four lanes cover 64 contiguous
//   bytes of a row per load. Each warp requests a batch of UNROLL such loads and the activation bytes they meet (L2
//   hits: loaded one chunk at a time, each would cost a round trip, which measured 1.7 TB/s at 4a31817), then does
//   the batch's MMAs. The first batch's weights are requested before ge_pdl_wait: weights are not written by the step,
//   so under a dependent launch they arrive while the activation quantizer before this kernel still runs.
// - The dot product does not care in which order K is summed, so any assignment of physical k to the fragments'
//   logical slots (lane t holds k 4t .. 4t + 3 and 16 + 4t .. 16 + 4t + 3 of a k32 step in A and B alike) that
//   depends only on t is the same on both sides. int8 (a chunk is 64 of K): step s takes the lane's bytes 8s .. 8s + 7
//   of weights and of token rows g and g + 8. int4 (a chunk is one 128-wide K block, int8_act_tile.cuh's layout: the
//   lane's 16 bytes are one 32-wide K step, byte b holding element b low and b + 16 high): step j takes word j, whose
//   low nibbles are elements 4j .. 4j + 3 and high nibbles 16 + 4j .., as int8 16 q ((x << 4) & 0xF0F0F0F0 and
//   x & 0xF0F0F0F0), beside the activation bytes at the same elements; the epilogue takes the exact 1/16 back.
// - The block's warps split the chunks into contiguous ranges. Numerics are int8_act_tile.cuh's, bit for bit: per
//   channel the warps' exact int32 sums are added in shared memory and scaled once; grouped (one scale per 128 of K),
//   each chunk's int32 sum is a whole group's, stored in shared memory per group, and after one barrier each thread
//   chains fma(part, w_scale, total) over all groups in K order for one output. The block's weight scales are read
//   into shared memory (grouped) or a register (per channel) before the wait too, so no scale load is left on the
//   kernel's tail.
// Token rows at or past the tile's row end (the device token count) are neither read nor stored. The launcher picks
// TOK 8 up to 8 rows and 16 up to 16. Capturable: no host reads.
#pragma once
#include "ptx.cuh"

#define I8S_WARPS 4
#define I8S_THREADS (32 * I8S_WARPS)
#define I8S_COLS 8                   // weight rows (output channels) per block: the MMA's n8

GE_DEVICE uint4 i8s_load_a(const signed char* base, long long byte, bool ok) {
    return ok ? __ldg(reinterpret_cast<const uint4*>(base + byte)) : make_uint4(0u, 0u, 0u, 0u);
}

GE_DEVICE unsigned i8s_word(const uint4& v, int j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

// One chunk's MMAs: the lane's 16 weight bytes `wv` against the same elements of token rows g (x[0]) and g + 8
// (x[1], when TOK is 16; zeros otherwise). int8: x[r][0] is the 16 activation bytes of the chunk; int4: x[r][0] and
// x[r][1] hold elements 0 .. 15 and 16 .. 31 of the lane's 32-wide step.
template <int W4, int R>
GE_DEVICE void i8s_chunk(int (&acc)[4], const uint4& wv, const uint4 (&x)[R][W4 ? 2 : 1]) {
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    if (W4) {
        const uint4& l0 = x[0][0]; const uint4& l1 = x[0][W4 ? 1 : 0];
        const uint4& h0 = R > 1 ? x[R - 1][0] : zero; const uint4& h1 = R > 1 ? x[R - 1][W4 ? 1 : 0] : zero;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const unsigned w = i8s_word(wv, j);
            const unsigned af[4] = {i8s_word(l0, j), i8s_word(h0, j), i8s_word(l1, j), i8s_word(h1, j)};
            const unsigned bf[2] = {(w << 4) & 0xF0F0F0F0u, w & 0xF0F0F0F0u};
            ptx_mma_m16n8k32_s8(acc, af, bf);
        }
    } else {
        const uint4& l = x[0][0]; const uint4& h = R > 1 ? x[R - 1][0] : zero;
        const unsigned a0[4] = {l.x, h.x, l.y, h.y}, b0[2] = {wv.x, wv.y};
        ptx_mma_m16n8k32_s8(acc, a0, b0);
        const unsigned a1[4] = {l.z, h.z, l.w, h.w}, b1[2] = {wv.z, wv.w};
        ptx_mma_m16n8k32_s8(acc, a1, b1);
    }
}

// One block's tile: 8 weight rows from n0, token rows [m0, m0 + TOK) below the row end, which is
// ge_valid_rows(row_count, rows): the device token count. Block = 128 threads. Dynamic
// shared memory `smem` when GROUPED (Int8ActGemm.Cuda.cs computes the same): per 128-wide group, 128 int32 sums
// (16 tokens x 8 channels) and the block's 8 weight scales. UNROLL: chunks (16-byte weight loads of a lane) per batch.
template <typename T, int W4, int GROUPED, int TOK, int UNROLL>
GE_DEVICE void i8s_tile(
    unsigned char* smem,
    const signed char* __restrict__ a,        // [rows, kp] int8 codes
    const float* __restrict__ a_scale,        // [rows]
    const unsigned char* __restrict__ w,      // [np, kp] int8, or [np, kp / 2] int4 (W4)
    const float* __restrict__ w_scale,        // [kp / 128, np] (GROUPED) or [1, np]
    T* __restrict__ c,                        // [rows, n]
    int m0, int n0, int rows, int n, int np, int kp, const int* row_count) {
    static_assert(!GROUPED || W4, "group scales are int4's (w8a8 has one scale per channel)");
    static_assert(TOK == 8 || TOK == 16, "token rows are one or both halves of the MMA's m16");
    constexpr int R = TOK / 8, AV = W4 ? 2 : 1;   // token row groups; 16-byte activation loads a row and chunk
    __shared__ int red[I8S_WARPS][32][4];
    int* part = reinterpret_cast<int*>(smem);   // GROUPED: [kp / 128][32 lanes][4]
    float* sscale = reinterpret_cast<float*>(part + kp / 128 * 128);   // GROUPED: [kp / 128][8 channels]
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    // A chunk is one 16-byte load of each lane: 64 of K (int8) or 128 (int4, one group).
    constexpr int CHUNK_K = W4 ? 128 : 64;
    const int chunks = kp / CHUNK_K;
    const int per_warp = (chunks + I8S_WARPS - 1) / I8S_WARPS;
    const int cb = warp * per_warp;
#if defined(GE_MUTANT_I8S_DROP_LAST_K)
    const int ce = min(chunks - 128 / CHUNK_K, cb + per_warp);
#else
    const int ce = min(chunks, cb + per_warp);
#endif
    const long long row_bytes = W4 ? kp / 2 : kp;
    const unsigned char* wrow = w + (long long)(n0 + g) * row_bytes + 16 * t;   // n0 + g < np: no bound needed

    uint4 wv[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u)
        if (cb + u < ce) wv[u] = ptx_ld_stream16(wrow + (long long)(cb + u) * 64);
    // D fragment: e 0, 1 -> token g, channels 2t, 2t + 1; e 2, 3 -> token g + 8 (none when TOK is 8). Thread (warp, lane) finishes element
    // e = warp of the lane's fragment, and reads its channel's scales now, while the weights are in flight.
    const int e = warp, col = n0 + 2 * t + (e & 1);
    float ws_col = 0.0f;
    if (GROUPED) {
        for (int i = threadIdx.x; i < kp / 128 * I8S_COLS; i += I8S_THREADS)
            sscale[i] = __ldg(w_scale + (long long)(i / I8S_COLS) * np + n0 + i % I8S_COLS);
    } else {
#if defined(GE_MUTANT_I8S_SCALE_INDEX)
        ws_col = __ldg(w_scale + (col + 1) % np);
#else
        ws_col = __ldg(w_scale + col);
#endif
    }

    ge_pdl_wait();      // the activations, their scales and C are the step's: nothing below may touch them earlier
    ge_pdl_trigger();
    const int valid = ge_valid_rows(row_count, rows);
    if (m0 >= valid) return;
    bool ok[R];
    const signed char* arow[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        ok[r] = m0 + g + 8 * r < valid;
        arow[r] = a + (long long)(ok[r] ? m0 + g + 8 * r : 0) * kp + (W4 ? 32 : 16) * t;
    }
    const int token = m0 + g + 8 * (e >> 1);
    const bool live = token < valid && (TOK == 16 || e < 2);
    const float as = live ? __ldg(a_scale + token) : 0.0f;

    int acc[4] = {0, 0, 0, 0};
    for (int c0 = cb; c0 < ce; c0 += UNROLL) {
        if (c0 != cb) {
#pragma unroll
            for (int u = 0; u < UNROLL; ++u)
                if (c0 + u < ce) wv[u] = ptx_ld_stream16(wrow + (long long)(c0 + u) * 64);
        }
        // int8: the lane's bytes of a 64-wide chunk; int4: of its 32-wide step t of the 128-wide block.
        uint4 x[UNROLL][R][AV];
#pragma unroll
        for (int u = 0; u < UNROLL; ++u)
#pragma unroll
            for (int r = 0; r < R; ++r)
#pragma unroll
                for (int i = 0; i < AV; ++i)
                    x[u][r][i] = i8s_load_a(arow[r], (long long)(c0 + u) * (W4 ? 128 : 64) + 16 * i, ok[r] && c0 + u < ce);
#pragma unroll
        for (int u = 0; u < UNROLL; ++u) {
            const int chunk = c0 + u;
            if (chunk >= ce) break;
            i8s_chunk<W4, R>(acc, wv[u], x[u]);
            if (GROUPED) {
#pragma unroll
                for (int e = 0; e < 4; ++e) { part[(chunk * 32 + lane) * 4 + e] = acc[e]; acc[e] = 0; }
            }
        }
    }
    if (!GROUPED) {
#pragma unroll
        for (int e = 0; e < 4; ++e) red[warp][lane][e] = acc[e];
    }
    __syncthreads();

    if (TOK == 8 && e >= 2) return;
#if defined(GE_MUTANT_I8S_SKIP_PAD_GUARD)
    if (token >= rows || col >= n) return;
#else
    if (!live || col >= n) return;
#endif
    float v;
    if (GROUPED) {
        v = 0.0f;
#pragma unroll 8
        for (int q = 0; q < chunks; ++q) {
#if defined(GE_MUTANT_I8S_SCALE_INDEX)
            const float ws = sscale[((q + 1) % chunks) * I8S_COLS + col - n0];
#else
            const float ws = sscale[q * I8S_COLS + col - n0];
#endif
            v = __fmaf_rn(__fmul_rn(__int2float_rn(part[(q * 32 + lane) * 4 + e]), 0.0625f), ws, v);
        }
    } else {
        int sum = 0;
#pragma unroll
        for (int wi = 0; wi < I8S_WARPS; ++wi) sum += red[wi][lane][e];
        v = __int2float_rn(sum);
        if (W4) v = __fmul_rn(v, 0.0625f);
        v = __fmul_rn(v, ws_col);
    }
    c[(long long)token * n + col] = ge_from_float<T>(__fmul_rn(v, as));
}
