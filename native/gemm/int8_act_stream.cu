// Few-row w8a8 / w4a8 Linear: weight streaming on the int8 tensor cores. At up to 16 token rows the GEMM is a
// bandwidth problem (each weight byte is needed once, the MMAs are nearly free), and the 16 x 32 cp.async tile of
// int8_act_tile.cuh gives 128 blocks of 4 warps that each walk all of K one stage at a time. This kernel is built
// around the weight loads instead, as moe/group_gemm_stream.cu is for half weights:
//
// - Swapped operands: mma.sync m16n8k32 s8 computes Cᵀ = W · Aᵀ, 16 weight rows (output columns) as M and 8 token
//   rows as N, so a few tokens fill the MMA's narrow side. A block owns 32 weight rows (two M tiles) and 16 token rows
//   (two N tiles); each warp multiplies both pairs, so a weight fragment is loaded once for 16 tokens.
// - Weights go global -> registers with 16-byte streaming loads (ptx_ld_stream16), no shared-memory round trip. Lane
//   (g, t) loads rows g and g + 8 of each M tile: the bytes [32t, 32t + 32) of a 128-wide K block (int8: two chunks)
//   or the 16-byte chunk t (int4: one 32-wide K step of int8_act_tile.cuh's layout). The dot product does not care in
//   which order K is summed, so each MMA step feeds physical elements of the lane's chunk in the places of logical
//   k 4t.. and 16 + 4t..; the activation fragment of lane (g, t) is token g at the same physical elements (32 bytes
//   at 32t of the K block in both formats), so the operands agree. int4 codes become int8 in registers as in
//   int8_act_tile.cuh: (x << 4) & 0xF0F0F0F0 and x & 0xF0F0F0F0 are 16 q, the epilogue takes the exact 1/16 back.
// - Eight warps split K round robin: in round r warp w takes K block 8r + w, with the next DEPTH - 1 of its K blocks'
//   weights in flight. The first DEPTH K blocks' weights are requested before ge_pdl_wait (weights are not written
//   by the step), so under a dependent launch they arrive while the activation quantizer still runs.
//
// Numerics are int8_act_tile.cuh's, bit for bit: int32 sums are exact in any order, so per channel the warps' sums
// are added at the end and scaled once; grouped (one scale per 128 of K), each K block's int32 partial is a warp's
// whole sum for that group, and after each round the block applies fma(part, w_scale, total) group by group in K
// order, one thread per output (two rounds' partials alternate between two shared buffers, one barrier a round).
// Token rows at or past the device token count are neither read (zero fragments) nor stored. Any host row count
// runs (grid.y = token tiles of 16); the launcher picks this kernel up to 16 rows. Capturable: no host reads.
#include "ptx.cuh"

#define I8S_WARPS 8
#define I8S_THREADS (32 * I8S_WARPS)
#define I8S_ROWS 32                          // weight rows per block: two 16-row M tiles
#define I8S_TOKENS 16                        // token rows per block: two 8-row N tiles
#define I8S_SLOTS (2 * 2 * 4 * 32)           // int32 sums per warp: M tiles x N tiles x 4 accumulators x 32 lanes
#define I8S_PER_THREAD (I8S_SLOTS / I8S_THREADS)

// The 16-byte weight chunks a lane loads per row and K block: int8 32 bytes, int4 16 bytes.
template <int W4> struct i8s_fmt { static constexpr int vecs = W4 ? 1 : 2; static constexpr int kb_bytes = W4 ? 64 : 128; };

template <int W4> using i8s_wregs = uint4[2][2][i8s_fmt<W4>::vecs];   // [M tile][row g, g + 8][chunk]
using i8s_aregs = uint4[2][2];                                        // [N tile][chunk]

template <int W4>
GE_DEVICE void i8s_load_w(i8s_wregs<W4>& v, const unsigned char* const (&wr)[2][2], int kb) {
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int i = 0; i < i8s_fmt<W4>::vecs; ++i)
                v[mt][h][i] = ptx_ld_stream16(wr[mt][h] + (long long)kb * i8s_fmt<W4>::kb_bytes + 16 * i);
}

// Token rows at or past the device count load as zeros: never read, and their sums are never stored.
GE_DEVICE void i8s_load_a(i8s_aregs& v, const signed char* const (&ar)[2], const bool (&live)[2], int kb) {
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int i = 0; i < 2; ++i)
            v[nt][i] = live[nt] ? __ldg(reinterpret_cast<const uint4*>(ar[nt] + (long long)kb * 128) + i) : make_uint4(0u, 0u, 0u, 0u);
}

GE_DEVICE unsigned i8s_word(const uint4& v, int j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

// The four MMA steps of one K block into acc[mt][nt].
template <int W4>
GE_DEVICE void i8s_mma_block(int (&acc)[2][2][4], const i8s_wregs<W4>& w, const i8s_aregs& a) {
#pragma unroll
    for (int s = 0; s < 4; ++s) {
        unsigned b[2][2];
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
            // int8: bytes 8s .. 8s + 7 of the lane's 32; int4: words s and 4 + s (elements 4s.. and 16 + 4s.. of the step).
            b[nt][0] = W4 ? i8s_word(a[nt][0], s) : i8s_word(a[nt][s >> 1], (2 * s) & 3);
            b[nt][1] = W4 ? i8s_word(a[nt][1], s) : i8s_word(a[nt][s >> 1], (2 * s + 1) & 3);
        }
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
            unsigned af[4];
            if (W4) {
                const unsigned x0 = i8s_word(w[mt][0][0], s), x1 = i8s_word(w[mt][1][0], s);
                af[0] = (x0 << 4) & 0xF0F0F0F0u; af[1] = (x1 << 4) & 0xF0F0F0F0u;
                af[2] = x0 & 0xF0F0F0F0u;        af[3] = x1 & 0xF0F0F0F0u;
            } else {
                af[0] = i8s_word(w[mt][0][s >> 1], (2 * s) & 3);     af[1] = i8s_word(w[mt][1][s >> 1], (2 * s) & 3);
                af[2] = i8s_word(w[mt][0][s >> 1], (2 * s + 1) & 3); af[3] = i8s_word(w[mt][1][s >> 1], (2 * s + 1) & 3);
            }
#pragma unroll
            for (int nt = 0; nt < 2; ++nt) ptx_mma_m16n8k32_s8(acc[mt][nt], af, b[nt]);
        }
    }
}

// Where a warp's sum `slot` lands: weight row of the block and token row of the block (the D fragment: rows g, g + 8;
// columns 2t, 2t + 1), slot = ((mt * 2 + nt) * 4 + i) * 32 + lane as the warps store them.
struct i8s_cell { int wrow, token; };
GE_DEVICE i8s_cell i8s_cell_of(int slot) {
    const int lane = slot & 31, i = (slot >> 5) & 3, nt = (slot >> 7) & 1, mt = slot >> 8;
    return i8s_cell{mt * 16 + (lane >> 2) + 8 * (i >> 1), nt * 8 + 2 * (lane & 3) + (i & 1)};
}

GE_DEVICE void i8s_store_sums(int* red, const int (&acc)[2][2][4], int lane) {
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) red[((mt * 2 + nt) * 4 + i) * 32 + lane] = acc[mt][nt][i];
}

// grid = (np / 32, ceil(rows / 16)); DEPTH: K blocks of weights a warp has requested ahead, the one it multiplies
// included (2 or 3).
template <typename T, int W4, int GROUPED, int DEPTH>
__global__ void __launch_bounds__(I8S_THREADS, 1) int8_act_stream(
    const signed char* __restrict__ a,        // [rows, kp] int8 codes
    const float* __restrict__ a_scale,        // [rows]
    const unsigned char* __restrict__ w,      // [np, kp] int8, or [np, kp / 2] int4 (W4)
    const float* __restrict__ w_scale,        // [kp / 128, np] (GROUPED) or [1, np]
    T* __restrict__ c,                        // [rows, n]
    int rows, int n, int np, int kp, const int* n_tokens) {
    static_assert(DEPTH == 2 || DEPTH == 3, "two or three K blocks in flight");
    typedef i8s_fmt<W4> F;
    __shared__ int red[GROUPED ? 2 : 1][I8S_WARPS][I8S_SLOTS];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int n0 = blockIdx.x * I8S_ROWS, m0 = blockIdx.y * I8S_TOKENS;
#if defined(GE_MUTANT_I8S_DROP_LAST_K)
    const int kblocks = kp / 128 - 1;
#else
    const int kblocks = kp / 128;
#endif
    const int rounds = (kblocks + I8S_WARPS - 1) / I8S_WARPS;
    const long long row_bytes = W4 ? kp / 2 : kp;

    // Rows n0 + mt * 16 + g + 8h are below np (np / 32 blocks), so no weight row needs a bound.
    const unsigned char* wr[2][2];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) wr[mt][h] = w + (long long)(n0 + mt * 16 + g + 8 * h) * row_bytes + (W4 ? 16 : 32) * t;

    i8s_wregs<W4> wv[DEPTH];
    i8s_aregs av[DEPTH];
#pragma unroll
    for (int d = 0; d < DEPTH; ++d)
        if (warp + I8S_WARPS * d < kblocks) i8s_load_w<W4>(wv[d], wr, warp + I8S_WARPS * d);

    ge_pdl_wait();      // the activations, their scales and C are the step's: nothing below may touch them earlier
    ge_pdl_trigger();
    const int valid = ge_valid_rows(n_tokens, rows);
    if (m0 >= valid) return;
    const signed char* ar[2];
    bool live[2];
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
        const int token = m0 + nt * 8 + g;
        live[nt] = token < valid;
        ar[nt] = a + (long long)(live[nt] ? token : 0) * kp + 32 * t;
    }
#pragma unroll
    for (int d = 0; d < DEPTH; ++d)
        if (warp + I8S_WARPS * d < kblocks) i8s_load_a(av[d], ar, live, warp + I8S_WARPS * d);

    int acc[2][2][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0;
    float total[I8S_PER_THREAD];
#pragma unroll
    for (int j = 0; j < I8S_PER_THREAD; ++j) total[j] = 0.0f;

    for (int r0 = 0; r0 < rounds; r0 += DEPTH) {
#pragma unroll
        for (int d = 0; d < DEPTH; ++d) {
            const int r = r0 + d;
            if (r >= rounds) break;
            const int kb = I8S_WARPS * r + warp;
            if (kb < kblocks) {
                i8s_mma_block<W4>(acc, wv[d], av[d]);
                // Refill the ring slot just consumed with this warp's K block DEPTH rounds on.
                const int nk = kb + I8S_WARPS * DEPTH;
                if (nk < kblocks) {
                    i8s_load_w<W4>(wv[d], wr, nk);
                    i8s_load_a(av[d], ar, live, nk);
                }
            }
            if (GROUPED) {
                int* buf = &red[GROUPED ? (r & 1) : 0][0][0];
                i8s_store_sums(buf + warp * I8S_SLOTS, acc, lane);   // a warp past the last K block stores zeros, never read
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
                        for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0;
                __syncthreads();
                // The round's groups in K order, each one warp's whole int32 sum for it.
                const int groups_here = min(I8S_WARPS, kblocks - I8S_WARPS * r);
#pragma unroll
                for (int j = 0; j < I8S_PER_THREAD; ++j) {
                    const int slot = tid + I8S_THREADS * j;
                    const int col = n0 + i8s_cell_of(slot).wrow;
                    for (int q = 0; q < groups_here; ++q) {
                        const int group = I8S_WARPS * r + q;
#if defined(GE_MUTANT_I8S_SCALE_INDEX)
                        const float ws = w_scale[(long long)((group + 1) % (kp / 128)) * np + col];
#else
                        const float ws = w_scale[(long long)group * np + col];
#endif
                        float part = __int2float_rn(buf[q * I8S_SLOTS + slot]);
                        if (W4) part = __fmul_rn(part, 0.0625f);
                        total[j] = __fmaf_rn(part, ws, total[j]);
                    }
                }
            }
        }
    }
    if (!GROUPED) {
        i8s_store_sums(&red[0][warp][0], acc, lane);
        __syncthreads();
    }

#pragma unroll
    for (int j = 0; j < I8S_PER_THREAD; ++j) {
        const int slot = tid + I8S_THREADS * j;
        const i8s_cell cell = i8s_cell_of(slot);
        const int token = m0 + cell.token, col = n0 + cell.wrow;
#if defined(GE_MUTANT_I8S_SKIP_PAD_GUARD)
        if (token >= rows || col >= n) continue;
#else
        if (token >= valid || col >= n) continue;
#endif
        float v;
        if (GROUPED) {
            v = total[j];
        } else {
            int sum = 0;
#pragma unroll
            for (int q = 0; q < I8S_WARPS; ++q) sum += red[0][q][slot];
            v = __int2float_rn(sum);
            if (W4) v = __fmul_rn(v, 0.0625f);
            v = __fmul_rn(v, w_scale[col]);
        }
        c[(long long)token * n + col] = ge_from_float<T>(__fmul_rn(v, a_scale[token]));
    }
}
