// Few-row MoE group GEMM: weight streaming. At a handful of rows per expert the group GEMM is a bandwidth problem
// (every byte of a hit expert's weights is needed once, the MMAs are nearly free), so this kernel is built around the
// weight loads rather than around a tile of C:
//
// - Swapped operands: the MMA computes Cᵀ = W · Aᵀ with mma.sync m16n8k16, 16 weight rows as M and up to 8 token rows
//   as N, so a few rows fill the MMA's narrow side instead of wasting 15/16 of a 16-row tile.
// - Weights go global -> registers with 16-byte loads (ptx_ld_stream16: read-only path, no L1 allocation, 256-byte L2
//   prefetch) and are decoded there (ge_decode_fast8 for int8, gs_decode_int4 for int4), no
//   shared-memory round trip. Lane (g, c) of a warp loads rows g and g + 8 of each 16-row tile, the contiguous
//   elements [c * EPT, (c + 1) * EPT) of each 64- (half) or 128-wide (integer) K block. The dot product does not care
//   in which order K is summed, so step s of the block feeds the MMA the physical elements c * EPT + 4s .. + 4 in the
//   places of logical k 2c, 2c + 1, 2c + 8, 2c + 9; the activation fragment of lane (g, c) is token row g at the same
//   physical elements, so both operands agree. Each warp keeps the next K block's loads in flight during the MMAs, and
//   requests its first before the rows are staged.
// - A block is 4 warps on 32 weight rows (two 16-row tiles per warp) and one K slice; its R token rows of that slice
//   are staged once in shared memory (zero past the expert's rows and past K, so padded rows are never read). The
//   warps take the slice's K blocks round robin and their sums are added in warp order.
// - Grid: x = column blocks x K splits, y = M tiles of R rows over all experts (gg_find_tile walks the device
//   offsets; tiles past the last real one exit at once, so experts without rows cost one offsets walk). The launcher
//   sizes it from host bounds only, so the kernel is capturable.
// - Deterministic split-K: with splits > 1 each block writes its fp32 sums to the workspace, takes a ticket of its
//   column block, and the block that draws the last ticket sums the slices in slice order 0..S-1, stores C and re-arms
//   the ticket. Which block finishes last changes nothing, so eager and graph replay agree bit for bit. No block ever
//   waits on another: a lost ticket can give a wrong result but never a hang.
//
// Scales: per channel on the final fp32 sum, per group at each K block's end (a K block never spans two groups: the
// launcher requires group % 128 == 0). SWIGLU: block column j pairs gate row j (tile 0) with up row F + j (tile 1),
// F = N / 2, and stores into C [rows, F] what every fused gate/up GEMM stores (swiglu_epilogue.cuh): gate and up rounded
// to T as the unfused path stores them, silu(gate) * up in fp32, rounded once.
// Requires (launcher: GroupGemm.Cuda.cs, Stream) K % 8 == 0 (half), % 16 (int8), % 32 (int4): every 16-byte chunk
// is wholly inside or outside K.
#include "moe/group_gemm_core.cuh"
#include "moe/swiglu_epilogue.cuh"

#define GS_WARPS 4
#define GS_THREADS (32 * GS_WARPS)
#define GS_ROWS 32                  // weight rows per block: two 16-row MMA tiles per warp
#define GS_SLOTS (2 * 4 * 32)       // fp32 sums per block: 2 tiles x 4 accumulators x 32 lanes
#define GS_PAD 8                    // halves of padding per staged A row: rows g and g + 1 start 16 bytes apart in the banks
#define GS_HEAD (GS_WARPS * GS_SLOTS * 4 + 16)   // bytes of shared memory before the staged rows: sums and the ticket verdict

template <int WMODE> struct gs_fmt {
    static constexpr int kb = WMODE == GG_HALF ? 64 : 128;                        // K elements per K block
    static constexpr int ept = kb / 4;                                            // elements per lane and row
    static constexpr int per_vec = WMODE == GG_HALF ? 8 : WMODE == GG_INT8 ? 16 : 32;   // elements per 16 bytes
    static constexpr int vecs = ept / per_vec;                                    // 16-byte loads per lane and row
    static constexpr int steps = kb / 16;                                         // MMAs per tile and K block
    static constexpr int pairs = 2 * steps;                                       // packed half pairs per lane and row
};

// Dynamic shared memory of a launch (GroupGemm.Cuda.cs, StreamConfig.SharedBytes, computes the same).
template <int WMODE, int R> GE_DEVICE constexpr int gs_smem_bytes(int kb_per_split) { return GS_HEAD + R * (kb_per_split * gs_fmt<WMODE>::kb + GS_PAD) * 2; }

// Bytes from the start of a weight row to element k (k a multiple of the 16-byte chunk).
template <int WMODE> GE_DEVICE long long gs_row_offset(int k) { return WMODE == GG_HALF ? 2LL * k : WMODE == GG_INT8 ? k : k >> 1; }

// The raw 16-byte chunks of K block `kb` of the four rows a lane owns (tile t, row g + 8h), zero past K. `off` is each
// row's byte offset from the expert's weights to the lane's first element, fixed for the whole launch (rows past the
// tile's limit read the last row instead: their sums land in channels that are never stored), so a K block wholly
// inside K costs one add and one unpredicated load per chunk. (Predicated loads with the row products and 64-bit
// multiplies redone every K block were a fifth of the int4 kernel's instructions at 16 tokens; ncu at e29bf1b.)
template <int WMODE>
GE_DEVICE void gs_load_w(uint4 (&v)[2][2][gs_fmt<WMODE>::vecs], const unsigned char* __restrict__ w,
                         const unsigned (&off)[2][2], int K, int kb, int c) {
    typedef gs_fmt<WMODE> F;
    const unsigned char* base = w + gs_row_offset<WMODE>(kb * F::kb);
    if ((kb + 1) * F::kb <= K) {
#pragma unroll
        for (int t = 0; t < 2; ++t)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int i = 0; i < F::vecs; ++i)
                    v[t][h][i] = ptx_ld_stream16(base + off[t][h] + gs_row_offset<WMODE>(i * F::per_vec));
        return;
    }
#pragma unroll
    for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
            for (int i = 0; i < F::vecs; ++i) {
                const int k = kb * F::kb + c * F::ept + i * F::per_vec;
                v[t][h][i] = make_uint4(0u, 0u, 0u, 0u);
                if (k < K) v[t][h][i] = ptx_ld_stream16(base + off[t][h] + gs_row_offset<WMODE>(i * F::per_vec));
            }
}

// Int4 codes are paired by nibble distance 4 rather than neighbours: pair m of a 32-bit word (codes 0..7 at bits 4i) is
// codes m and m + 4, which one shift and one three-input LOP3 place in the two halves of a packed pair already biased
// (((x >> 4m) & 0x000F000F) ^ (base ^ 0x00080008) is base + (code ^ 8), i.e. base + q + 8 for the two's complement q),
// so a word costs 3 shifts, 4 LOP3 and 4 HFMA2 (was 18 instructions with the neighbour pairing: a PRMT and two LOP3 a
// pair plus the xor). The activations are staged in the same order (gs_interleave), and the dot product does not care.
template <typename T>
GE_DEVICE uint4 gs_decode_int4(unsigned x) {
    constexpr unsigned biased = ge_magic<T>::base ^ 0x00080008u;
    return make_uint4(ptx_fma2<T>((x & 0x000F000Fu) ^ biased, ge_magic<T>::one, ge_magic<T>::minus_int4),
                      ptx_fma2<T>(((x >> 4) & 0x000F000Fu) ^ biased, ge_magic<T>::one, ge_magic<T>::minus_int4),
                      ptx_fma2<T>(((x >> 8) & 0x000F000Fu) ^ biased, ge_magic<T>::one, ge_magic<T>::minus_int4),
                      ptx_fma2<T>(((x >> 12) & 0x000F000Fu) ^ biased, ge_magic<T>::one, ge_magic<T>::minus_int4));
}

// Eight activation values (x0 .. x7 as four packed pairs) in gs_decode_int4's order: pairs (x0, x4), (x1, x5), (x2, x6),
// (x3, x7). Applied when the rows are staged, once per block, for the int4 formats only.
GE_DEVICE uint4 gs_interleave(uint4 v) {
#if defined(GE_MUTANT_GS_NEIGHBOUR_PAIRS)
    return v;
#else
    return make_uint4(__byte_perm(v.x, v.z, 0x5410u), __byte_perm(v.x, v.z, 0x7632u),
                      __byte_perm(v.y, v.w, 0x5410u), __byte_perm(v.y, v.w, 0x7632u));
#endif
}

// A lane's chunks of one row -> packed activation-type pairs in K order (pair q: elements 2q, 2q + 1; int4: in
// gs_decode_int4's order within each 8 elements).
template <typename T, int WMODE>
GE_DEVICE void gs_pairs(const uint4 (&v)[gs_fmt<WMODE>::vecs], unsigned (&p)[gs_fmt<WMODE>::pairs]) {
#pragma unroll
    for (int i = 0; i < gs_fmt<WMODE>::vecs; ++i) {
        if constexpr (WMODE == GG_HALF) {
            p[4 * i] = v[i].x; p[4 * i + 1] = v[i].y; p[4 * i + 2] = v[i].z; p[4 * i + 3] = v[i].w;
        } else if constexpr (WMODE == GG_INT8) {
            const uint4 lo = ge_decode_fast8<T, GG_INT8>(v[i].x, v[i].y), hi = ge_decode_fast8<T, GG_INT8>(v[i].z, v[i].w);
            p[8 * i] = lo.x; p[8 * i + 1] = lo.y; p[8 * i + 2] = lo.z; p[8 * i + 3] = lo.w;
            p[8 * i + 4] = hi.x; p[8 * i + 5] = hi.y; p[8 * i + 6] = hi.z; p[8 * i + 7] = hi.w;
        } else {
            const unsigned word[4] = {v[i].x, v[i].y, v[i].z, v[i].w};
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const uint4 d = gs_decode_int4<T>(word[q]);
                p[16 * i + 4 * q] = d.x; p[16 * i + 4 * q + 1] = d.y; p[16 * i + 4 * q + 2] = d.z; p[16 * i + 4 * q + 3] = d.w;
            }
        }
    }
}

// Where a block's sum `slot` (tile, accumulator, lane, as the warps store them) lands: weight row of the block and
// token row of the tile (the MMA's D fragment: rows g and g + 8, columns 2c and 2c + 1).
struct gs_cell { int wrow, token; };
GE_DEVICE gs_cell gs_cell_of(int slot) {
    const int t = slot >> 7, i = (slot >> 5) & 3, lane = slot & 31;
    return gs_cell{t * 16 + (lane >> 2) + 8 * (i >> 1), 2 * (lane & 3) + (i & 1)};
}

// DEPTH: K blocks of weights a warp has in flight, 2 (the one it multiplies and the next) or 3.
template <typename T, int WMODE, int GROUPED, int R, int SWIGLU, int DEPTH = 2>
__global__ void __launch_bounds__(GS_THREADS) group_gemm_stream(
    const unsigned short* __restrict__ A, // [rows, K] or [E, P, K] activation bits
    const void* __restrict__ W,           // [E, N, K] in WMODE's storage
    const float* __restrict__ scales,     // [E, N, groups] or null (GG_HALF)
    const int* __restrict__ offsets,      // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,       // [rows, N] or [E, P, N]; SWIGLU: [rows, N / 2] or [E, P, N / 2]
    int experts, int N, int K, int group_size, int groups, int padded_slots,
    float* __restrict__ partials,         // [gridDim.y, column blocks, splits, GS_SLOTS] when splits > 1
    int* __restrict__ tickets,            // [gridDim.y, column blocks], zero between launches, when splits > 1
    int splits, int kb_per_split) {
    static_assert(R >= 1 && R <= 8, "token rows are the MMA's n8 side");
    static_assert(DEPTH == 2 || DEPTH == 3, "two or three K blocks in flight");
    static_assert(WMODE == GG_HALF || WMODE == GG_INT8 || WMODE == GG_INT4, "half, int8 or signed int4 weights");
    typedef gs_fmt<WMODE> F;
    constexpr bool QUANT = WMODE != GG_HALF;
    // Dynamic shared memory, all of it (so the launcher's opt-in above 48 KiB covers the whole block): the warps' sums,
    // the ticket verdict, then the staged rows (gs_smem_bytes).
#ifdef GE_EMULATED_MMA
    unsigned char* smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ __align__(16) unsigned char gs_dyn_smem[];
    unsigned char* smem = gs_dyn_smem;
#endif
    float (*red)[GS_SLOTS] = reinterpret_cast<float (*)[GS_SLOTS]>(smem);
    int& last = *reinterpret_cast<int*>(smem + GS_HEAD - 16);
    unsigned short* sa = reinterpret_cast<unsigned short*>(smem + GS_HEAD);

    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
    int e, begin, count, m0;
    if (!gg_find_tile<R>(offsets, experts, padded_slots, blockIdx.y, e, begin, count, m0)) return;
    const int row0 = begin + m0, rows = min(R, count - m0);
    const int cb = blockIdx.x / splits, split = blockIdx.x - cb * splits;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, c = lane & 3;
    const int F2 = N >> 1;   // SWIGLU: output columns
    // Tile t's first weight row and the row bound it may read up to.
    const int row[2] = {SWIGLU ? cb * 16 : cb * GS_ROWS, SWIGLU ? F2 + cb * 16 : cb * GS_ROWS + 16};
    const int limit[2] = {SWIGLU ? F2 : N, N};
    const long long row_bytes = gs_row_offset<WMODE>(K);
    const unsigned char* w = reinterpret_cast<const unsigned char*>(W) + (long long)e * N * row_bytes;
    const float* se = QUANT ? scales + (long long)e * N * groups : nullptr;

    const int kb_total = (K + F::kb - 1) / F::kb;
    const int kb0 = split * kb_per_split, nkb = min(kb_per_split, kb_total - kb0);
    const int lda = kb_per_split * F::kb + GS_PAD;

    // The lane's four weight rows: byte offsets within the expert (an expert's weights are under 4 GiB: the launcher
    // checks N x K) and, grouped, the offsets of their scale rows; a row past the tile's limit reads the last one.
    unsigned off[2][2], soff[2][2];
#pragma unroll
    for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int n = min(row[t] + g + 8 * h, limit[t] - 1);
            off[t][h] = (unsigned)(n * row_bytes + gs_row_offset<WMODE>(c * F::ept));
            soff[t][h] = (unsigned)(n * groups);
        }
    const int kb_per_group = GROUPED ? group_size / F::kb : 1;   // >= 1: the launcher requires group % 128 == 0

    // The warp's first K block of weights is requested before the rows are staged: it needs only the tile, so its
    // latency overlaps the staging's and the barrier's instead of following them.
    uint4 cur[2][2][F::vecs], nxt[2][2][F::vecs], far[2][2][F::vecs];
    if (warp < nkb) gs_load_w<WMODE>(cur, w, off, K, kb0 + warp, c);
    if (DEPTH == 3 && warp + GS_WARPS < nkb) gs_load_w<WMODE>(nxt, w, off, K, kb0 + warp + GS_WARPS, c);

    // Stage the tile's valid rows of this K slice (zero past K); rows past `rows` are left as they are (below). A row at a time, no division per chunk. (All R rows' loads in flight
    // together, a uint4 each beside the warp's first K block, cost the half kernel registers and 6 us at one token on the
    // H200 at b96b7d9, with the loop below unrolled in two: 40.5 us for ERNIE's gate/up against 33.8.)
    {
        const int cpr = max(nkb, 0) * F::kb / 8;
        for (int r = 0; r < rows; ++r) {
            const unsigned short* src = A + (long long)(row0 + r) * K;
            for (int ch = tid; ch < cpr; ch += GS_THREADS) {
                const int k = kb0 * F::kb + ch * 8;
                uint4 v = make_uint4(0u, 0u, 0u, 0u);
                if (k < K) v = *reinterpret_cast<const uint4*>(src + k);
                *reinterpret_cast<uint4*>(sa + r * lda + ch * 8) = WMODE == GG_INT4 ? gs_interleave(v) : v;
            }
        }
    }
    __syncthreads();

    float acc[2][4], part[2][4];
#pragma unroll
    for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int i = 0; i < 4; ++i) { acc[t][i] = 0.0f; part[t][i] = 0.0f; }

    for (int j = warp; j < nkb; j += GS_WARPS) {
        if (DEPTH == 3) {
            if (j + 2 * GS_WARPS < nkb) gs_load_w<WMODE>(far, w, off, K, kb0 + j + 2 * GS_WARPS, c);
        } else if (j + GS_WARPS < nkb) {
            gs_load_w<WMODE>(nxt, w, off, K, kb0 + j + GS_WARPS, c);
        }
        // Token row g's elements of this lane, as packed pairs. Rows past the tile's were never staged and hold whatever
        // the shared memory held: they feed only MMA columns (tokens) that are never stored, and columns do not mix.
        unsigned b[F::pairs];
        {
            const uint4* src = reinterpret_cast<const uint4*>(sa + g * lda + j * F::kb + c * F::ept);
#pragma unroll
            for (int i = 0; i < F::ept / 8; ++i) {
                const uint4 x = src[i];
                b[4 * i] = x.x; b[4 * i + 1] = x.y; b[4 * i + 2] = x.z; b[4 * i + 3] = x.w;
            }
        }
        const int kbi = kb0 + j;
#if defined(GE_MUTANT_GS_GROUP_PER_BLOCK)
        const int grp = kbi;
#else
        const int grp = kb_per_group == 1 ? kbi : kbi / kb_per_group;
#endif
#pragma unroll
        for (int t = 0; t < 2; ++t) {
            unsigned p0[F::pairs], p1[F::pairs];
            gs_pairs<T, WMODE>(cur[t][0], p0);
            gs_pairs<T, WMODE>(cur[t][1], p1);
            float* d = GROUPED ? part[t] : acc[t];
#pragma unroll
            for (int s = 0; s < F::steps; ++s) {
                const unsigned a[4] = {p0[2 * s], p1[2 * s], p0[2 * s + 1], p1[2 * s + 1]};
                const unsigned bb[2] = {b[2 * s], b[2 * s + 1]};
                ptx_mma_m16n8k16<T>(d, a, bb);
            }
            if (GROUPED) {
                const float s0 = se[soff[t][0] + grp];
                const float s1 = se[soff[t][1] + grp];
                acc[t][0] = __fmaf_rn(part[t][0], s0, acc[t][0]);
                acc[t][1] = __fmaf_rn(part[t][1], s0, acc[t][1]);
                acc[t][2] = __fmaf_rn(part[t][2], s1, acc[t][2]);
                acc[t][3] = __fmaf_rn(part[t][3], s1, acc[t][3]);
#pragma unroll
                for (int i = 0; i < 4; ++i) part[t][i] = 0.0f;
            }
        }
        // A copy, not a second buffer in turn: unrolling the loop in two to alternate them let the compiler hoist the
        // second block's loads and took the int4 kernel from 80 to 118 registers (ncu at b96b7d9).
#pragma unroll
        for (int t = 0; t < 2; ++t)
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int i = 0; i < F::vecs; ++i) {
                    cur[t][h][i] = nxt[t][h][i];
                    if (DEPTH == 3) nxt[t][h][i] = far[t][h][i];
                }
    }

    // The warps' sums, added in warp order.
#pragma unroll
    for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int i = 0; i < 4; ++i) red[warp][t * 128 + i * 32 + lane] = acc[t][i];
#if !defined(GE_MUTANT_GS_RACY_REDUCTION)
    __syncthreads();
#endif
    float v[2];
#pragma unroll
    for (int q = 0; q < 2; ++q) {
        const int slot = tid + q * GS_THREADS;
        v[q] = red[0][slot];
#pragma unroll
        for (int x = 1; x < GS_WARPS; ++x) v[q] += red[x][slot];
    }

    if (splits > 1) {
        const int column_blocks = gridDim.x / splits;
        const long long ticket = (long long)blockIdx.y * column_blocks + cb;
        float* slices = partials + ticket * splits * GS_SLOTS;
        slices[split * GS_SLOTS + tid] = v[0];
        slices[split * GS_SLOTS + tid + GS_THREADS] = v[1];
        __threadfence();
        __syncthreads();
        if (tid == 0) last = atomicAdd(&tickets[ticket], 1) == splits - 1;
        __syncthreads();
        if (!last) return;
        __threadfence();
#if defined(GE_MUTANT_GS_DROP_LAST_SLICE)
        const int summed = splits - 1;
#else
        const int summed = splits;
#endif
        v[0] = 0.0f; v[1] = 0.0f;
        for (int s = 0; s < summed; ++s) {
            v[0] += __ldcg(slices + s * GS_SLOTS + tid);
            v[1] += __ldcg(slices + s * GS_SLOTS + tid + GS_THREADS);
        }
#if !defined(GE_MUTANT_GS_TICKET_NOT_RESET)
        if (tid == 0) tickets[ticket] = 0;
#endif
    }

    if (SWIGLU) {
        // Slots tid and tid + 128 are the same accumulator of tiles 0 and 1: gate column j and up column F + j.
        const gs_cell x = gs_cell_of(tid);
        const int jcol = cb * 16 + x.wrow;
        if (x.token >= rows || jcol >= F2) return;
        float gate = v[0], up = v[1];
        if (QUANT && !GROUPED) {
            gate = __fmaf_rn(gate, se[(long long)jcol * groups], 0.0f);
            up = __fmaf_rn(up, se[(long long)(F2 + jcol) * groups], 0.0f);
        }
        C[(long long)(row0 + x.token) * F2 + jcol] = ge_bits_from_float<T>(ge_swiglu_of_sums<T>(gate, up));
        return;
    }
#pragma unroll
    for (int q = 0; q < 2; ++q) {
        const gs_cell x = gs_cell_of(tid + q * GS_THREADS);
        const int n = cb * GS_ROWS + x.wrow;
        if (x.token >= rows || n >= N) continue;
        float out = v[q];
        if (QUANT && !GROUPED) out = __fmaf_rn(out, se[(long long)n * groups], 0.0f);
        C[(long long)(row0 + x.token) * N + n] = ge_bits_from_float<T>(out);
    }
}
