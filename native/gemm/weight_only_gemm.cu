// Weight-only GEMM (wint8 / wint4): out[rows, N] = x[rows, K] · (q · scale)ᵀ (+ bias), fp32 accumulation.
//
// Both variants compute the transposed product outᵀ = W · xᵀ with mma.sync m16n8k16: the weights are
// the A operand (16 output channels x 16 k) and the activations the B operand (16 k x 8 tokens). With
// few tokens this wastes nothing (8 tokens per n8 tile instead of 16 per m16), and it lets the weights
// go straight from global memory into A-fragment registers with no shared-memory round trip.
//
// Packed weight layout (written by weight_quantize.cu's repack, read here):
//   packed[ntile = n / 16][chunk = k / CHUNK_K][lane 0..31][16 bytes]
// CHUNK_K = 64 for int4 (4 k-tiles of 16), 32 for int8 (2 k-tiles). One 16-byte load per lane gives
// that lane exactly its A-fragment values for CHUNK_K / 16 mma instructions, and a warp's 32 loads of
// one chunk are 512 contiguous bytes (fully coalesced). N is padded to 16 and K to 64 with zeros.
// A-fragment element e (0..7) of lane (g = lane / 4, t = lane % 4) in a k-tile is
//   row g + 8 * ((e >> 1) & 1), col 2t + (e & 1) + 8 * (e >> 2)
// (PTX ISA's m16n8k16 A layout: registers {e0,e1}, {e2,e3}, {e4,e5}, {e6,e7}).
//   int8: byte 8 * kt + e holds q + 128 (unsigned, so the conversion below is a byte permute).
//   int4: 32-bit word kt holds the 8 nibbles q + 8 in the order [e0 e2 e4 e6 e1 e3 e5 e7] (nibble 0
//         lowest), so register r = {e_2r, e_2r+1} is (word >> 4r) & 0x000F000F: one shift and one
//         lop3 put two nibbles into the low mantissa bits of two 16-bit floats at once.
// Scales: fp32 [groups, Npad] (groups = 1 per channel). fp32 so the device quantizer and the host
// quantizer store identical bits and the per-group rescale adds no rounding of its own.
#include "ptx.cuh"

#ifndef WO_SMALL_WARPS
#define WO_SMALL_WARPS 4
#endif

template <typename T> struct WoBits;
template <> struct WoBits<__nv_bfloat16> {
    // 0x4300 is bf16 128.0 (ulp 1): OR-ing a nibble n into the mantissa gives 128 + n; 136 = 128 + 8.
    static constexpr unsigned MAGIC4 = 0x43004300u;
    static constexpr unsigned BIAS4 = 0x43084308u;
};
template <> struct WoBits<__half> {
    // 0x6400 is fp16 1024.0 (ulp 1): OR-ing a nibble gives 1024 + n; 1032 = 1024 + 8.
    static constexpr unsigned MAGIC4 = 0x64006400u;
    static constexpr unsigned BIAS4 = 0x64086408u;
};

GE_DEVICE unsigned wo_sub2(unsigned a, unsigned b, __nv_bfloat16) {
    __nv_bfloat162 x = *reinterpret_cast<__nv_bfloat162*>(&a);
    __nv_bfloat162 y = *reinterpret_cast<__nv_bfloat162*>(&b);
    __nv_bfloat162 r = __hsub2(x, y);
    return *reinterpret_cast<unsigned*>(&r);
}
GE_DEVICE unsigned wo_sub2(unsigned a, unsigned b, __half) {
    __half2 x = *reinterpret_cast<__half2*>(&a);
    __half2 y = *reinterpret_cast<__half2*>(&b);
    __half2 r = __hsub2(x, y);
    return *reinterpret_cast<unsigned*>(&r);
}

// Eight int4 values of one k-tile -> four A registers; exact (small integers are exact in both types).
template <typename T>
GE_DEVICE void wo_dequant_int4(unsigned w, unsigned (&a)[4]) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        unsigned v = ((w >> (4 * r)) & 0x000F000Fu) | WoBits<T>::MAGIC4;   // one lop3
        a[r] = wo_sub2(v, WoBits<T>::BIAS4, T());
    }
}

// Four biased int8 values (q + 128) -> two registers {b0, b1}, {b2, b3}.
GE_DEVICE void wo_dequant_int8x4(unsigned w, unsigned& lo, unsigned& hi, __half) {
    // 0x64XX is fp16 1024 + XX for XX < 256; 1152 = 1024 + 128 removes both offsets.
    const unsigned bias = 0x64806480u;
    lo = wo_sub2(__byte_perm(w, 0x64646464u, 0x4140), bias, __half());
    hi = wo_sub2(__byte_perm(w, 0x64646464u, 0x4342), bias, __half());
}
GE_DEVICE void wo_dequant_int8x4(unsigned w, unsigned& lo, unsigned& hi, __nv_bfloat16) {
    // bf16 has only 7 mantissa bits, so go through fp32: 0x4B0000XX is 2^23 + XX exactly.
    float f0 = __int_as_float(__byte_perm(w, 0x4B000000u, 0x7650)) - 8388736.0f;
    float f1 = __int_as_float(__byte_perm(w, 0x4B000000u, 0x7651)) - 8388736.0f;
    float f2 = __int_as_float(__byte_perm(w, 0x4B000000u, 0x7652)) - 8388736.0f;
    float f3 = __int_as_float(__byte_perm(w, 0x4B000000u, 0x7653)) - 8388736.0f;
    __nv_bfloat162 p = __floats2bfloat162_rn(f0, f1);
    __nv_bfloat162 q = __floats2bfloat162_rn(f2, f3);
    lo = *reinterpret_cast<unsigned*>(&p);
    hi = *reinterpret_cast<unsigned*>(&q);
}

// A registers of k-tile kt from one lane's 16-byte chunk.
template <typename T, bool INT4>
GE_DEVICE void wo_a_frag(const uint4& c, int kt, unsigned (&a)[4]) {
    const unsigned words[4] = {c.x, c.y, c.z, c.w};
    if (INT4) {
        wo_dequant_int4<T>(words[kt], a);
    } else {
        wo_dequant_int8x4(words[2 * kt], a[0], a[1], T());
        wo_dequant_int8x4(words[2 * kt + 1], a[2], a[3], T());
    }
}

// Eight activations x[row, k .. k+8) into shared memory, zero past K or past the valid rows (padded
// rows may hold NaN; the matching weights are zero but 0 * NaN is not).
template <typename T>
GE_DEVICE void wo_stage8(T* dst, const T* x, int row, int valid, int k, int K, int x_aligned) {
    if (row < valid && x_aligned && k + 8 <= K) {
        *reinterpret_cast<uint4*>(dst) = __ldg(reinterpret_cast<const uint4*>(x + (long long)row * K + k));
        return;
    }
#pragma unroll
    for (int e = 0; e < 8; ++e)
        dst[e] = (row < valid && k + e < K) ? x[(long long)row * K + k + e] : ge_from_float<T>(0.0f);
}

// ---------------------------------------------------------------------------------------------
// Few tokens (1..16): memory-bound. A block is WO_SMALL_WARPS warps on consecutive 16-channel tiles
// and one K split; every warp streams its tile's weights once with 16-byte loads (4 chunks in
// flight). Splits (grid.y) are reduced deterministically: each block writes fp32 partials, the last
// block of an n range to arrive (atomic ticket) sums them in split order 0..S-1 and writes the
// output, then re-arms the ticket. The result does not depend on which block finishes last.
// NT = number of n8 token tiles (1: up to 8 tokens, 2: up to 16). GROUP = 0 (per channel) or 64/128.
template <typename T, bool INT4, int GROUP, int NT>
__global__ void __launch_bounds__(WO_SMALL_WARPS * 32)
wo_gemm_small(const T* __restrict__ x,              // [rows, K]
              const uint4* __restrict__ wq,         // [Npad/16, chunks_k, 32] x 16 bytes
              const float* __restrict__ scales,     // [groups, Npad]
              const T* __restrict__ bias,           // [N] or null
              T* __restrict__ out,                  // [rows, N]
              float* __restrict__ partial,          // [splits, 16, Npad] when gridDim.y > 1
              int* __restrict__ counters,           // [gridDim.x], zero between launches
              const int* __restrict__ n_tokens,     // device scalar or null
              int rows, int N, int K, int Npad, int chunks_k, int chunks_per_split, int x_aligned) {
    constexpr int CHUNK_K = INT4 ? 64 : 32;
    constexpr int KT = CHUNK_K / 16;
    constexpr int MT = NT * 8;
    constexpr int CPG = GROUP == 0 ? 1 : GROUP / CHUNK_K;   // chunks per scale group
    constexpr int ITER = 4;                                   // chunks in flight per warp
    extern __shared__ __align__(16) unsigned char wo_smem[];
    T* xs = reinterpret_cast<T*>(wo_smem);                    // [MT, ldx]
    __shared__ int is_last;

    const int valid = ge_valid_rows(n_tokens, rows);
    if (valid <= 0) return;
    const int split = blockIdx.y;
    const int c0 = split * chunks_per_split;
    const int cn = min(chunks_k, c0 + chunks_per_split) - c0;
    const int ldx = chunks_per_split * CHUNK_K + 8;           // +16 bytes: ldmatrix rows hit distinct banks
    const int k0 = c0 * CHUNK_K;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int ntile = blockIdx.x * WO_SMALL_WARPS + warp;
    const bool active = ntile < Npad / 16;
    const uint4* wp = wq + ((long long)(active ? ntile : 0) * chunks_k + c0) * 32 + lane;

    // The first weight loads go out before the activations are staged, so the two latencies overlap;
    // afterwards the next ITER chunks are always in flight while the current ones are multiplied.
    uint4 wv[ITER];
#pragma unroll
    for (int j = 0; j < ITER; ++j)
        wv[j] = active && j < cn ? __ldg(wp + (long long)j * 32) : make_uint4(0u, 0u, 0u, 0u);

    for (int i = threadIdx.x; i < MT * (cn * CHUNK_K / 8); i += blockDim.x) {
        int r = i / (cn * CHUNK_K / 8);
        int kk = (i - r * (cn * CHUNK_K / 8)) * 8;
        wo_stage8(xs + r * ldx + kk, x, r, valid, k0 + kk, K, x_aligned);
    }
    __syncthreads();
    float acc[NT][4];
#pragma unroll
    for (int i = 0; i < NT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;

    if (active) {
        const int mrow = NT == 1 ? (lane & 7) : ((lane & 7) + ((lane >> 4) << 3));
        const int mcol = ((lane >> 3) & 1) * 8;
        const unsigned sbase = ptx_smem_addr(xs + mrow * ldx + mcol);
        float part[NT][4];
        for (int c = 0; c < cn; c += ITER) {
            uint4 cur[ITER];
#pragma unroll
            for (int j = 0; j < ITER; ++j) {
                cur[j] = wv[j];
                wv[j] = c + ITER + j < cn ? __ldg(wp + (long long)(c + ITER + j) * 32) : make_uint4(0u, 0u, 0u, 0u);
            }
#pragma unroll
            for (int j = 0; j < ITER; ++j) {
                if (c + j >= cn) break;
                if (GROUP != 0 && j % CPG == 0) {
#pragma unroll
                    for (int i = 0; i < NT; ++i) part[i][0] = part[i][1] = part[i][2] = part[i][3] = 0.0f;
                }
#pragma unroll
                for (int kt = 0; kt < KT; ++kt) {
                    unsigned a[4];
                    wo_a_frag<T, INT4>(cur[j], kt, a);
                    unsigned addr = sbase + (unsigned)(((c + j) * CHUNK_K + kt * 16) * (int)sizeof(T));
                    unsigned b[4];
                    if (NT == 2) ptx_ldmatrix_x4(b[0], b[1], b[2], b[3], addr);
                    else ptx_ldmatrix_x2(b[0], b[1], addr);
#pragma unroll
                    for (int i = 0; i < NT; ++i) ptx_mma_m16n8k16<T>(GROUP != 0 ? part[i] : acc[i], a, b + 2 * i);
                }
                if (GROUP != 0 && (j % CPG == CPG - 1 || c + j == cn - 1)) {
                    int gi = (k0 + (c + j) * CHUNK_K) / GROUP;
                    float s_lo = scales[(long long)gi * Npad + ntile * 16 + g];
                    float s_hi = scales[(long long)gi * Npad + ntile * 16 + g + 8];
#pragma unroll
                    for (int i = 0; i < NT; ++i) {
                        acc[i][0] += s_lo * part[i][0]; acc[i][1] += s_lo * part[i][1];
                        acc[i][2] += s_hi * part[i][2]; acc[i][3] += s_hi * part[i][3];
                    }
                }
            }
        }
    }

    if (gridDim.y == 1) {
        if (!active) return;
#pragma unroll
        for (int i = 0; i < NT; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                int tok = i * 8 + 2 * t + (e & 1);
                int n = ntile * 16 + g + (e >> 1) * 8;
                if (tok >= valid || n >= N) continue;
                float v = acc[i][e];
                if (GROUP == 0) v *= scales[n];
                if (bias) v += ge_to_float(bias[n]);
                out[(long long)tok * N + n] = ge_from_float<T>(v);
            }
        return;
    }

    if (active) {
#pragma unroll
        for (int i = 0; i < NT; ++i)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                int tok = i * 8 + 2 * t + (e & 1);
                int n = ntile * 16 + g + (e >> 1) * 8;
                if (tok < valid) partial[((long long)split * 16 + tok) * Npad + n] = acc[i][e];   // only valid rows are summed
            }
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) is_last = atomicAdd(&counters[blockIdx.x], 1) == (int)gridDim.y - 1;
    __syncthreads();
    if (!is_last) return;
    __threadfence();
    const int width = WO_SMALL_WARPS * 16;
    for (int idx = threadIdx.x; idx < MT * width; idx += blockDim.x) {
        int tok = idx / width;
        int n = blockIdx.x * width + (idx - tok * width);
        if (tok >= valid || n >= N) continue;
        float v = 0.0f;
#if defined(GE_MUTANT_WO_SPLIT_DROP_LAST)
        for (int s = 0; s < (int)gridDim.y - 1; ++s) v += __ldcg(partial + ((long long)s * 16 + tok) * Npad + n);
#else
        for (int s = 0; s < (int)gridDim.y; ++s) v += __ldcg(partial + ((long long)s * 16 + tok) * Npad + n);
#endif
        if (GROUP == 0) v *= scales[n];
        if (bias) v += ge_to_float(bias[n]);
        out[(long long)tok * N + n] = ge_from_float<T>(v);
    }
    if (threadIdx.x == 0) counters[blockIdx.x] = 0;
}


// ---------------------------------------------------------------------------------------------
// Few tokens (1..16), one pass: a block is WO_GEMV_WARPS warps on the same TN 16-channel tiles, each
// warp a contiguous K range (whole scale groups), so the K split is reduced inside the block through
// shared memory (fixed warp order: deterministic) and nothing goes through global memory twice. Every
// global load a block needs (its weights, the activations of all `rows` rows, the scales and the bias)
// is issued before the first wait, so a launch costs about one memory round trip plus the streaming
// time. The weights go straight into registers: U 16-byte loads per lane in flight per batch (U = 16
// units of 512 bytes per warp, so ~8 KiB per warp and 64 KiB per block are in flight). The activations
// are staged once per block and read with ldmatrix; lanes whose token is at or past the device count
// read a 16-byte zero row instead, so padded rows (which may hold NaN) never reach an mma.
// Shared memory (dynamic), byte offsets:
//   [0, 16)              zero row for ldmatrix
//   ss  float [groups][TN*16] scales of the block's channels (groups = 1 per channel)
//   sb  float [TN*16]    bias (0 without one)
//   xs  T [rows][ldx]    activations, ldx = Kpad + 8 (16-byte pad: ldmatrix rows on distinct banks);
//                        reused after the main loop as float red[WARPS][TN*NT*4][32] for the K reduction
// One batch of S chunks x TN tiles of weights into registers (zero past the warp's range or the tiles).
template <int S, int TN>
GE_DEVICE void wo_gemv_load(uint4 (&w)[S][TN], const uint4* __restrict__ wq, int tile0, int tiles, int chunks_k,
                            int c, int ce, int lane) {
#pragma unroll
    for (int j = 0; j < S; ++j)
#pragma unroll
        for (int i = 0; i < TN; ++i)
            w[j][i] = (c + j < ce && tile0 + i < tiles)
                ? __ldg(wq + ((long long)(tile0 + i) * chunks_k + c + j) * 32 + lane)
                : make_uint4(0u, 0u, 0u, 0u);
}

// The mma work of one batch: chunks c .. c + S - 1 (those below ce) of TN tiles against NT token tiles
// read from shared memory; group partials are rescaled into acc at each group's end. With H = 2 the
// even and odd k-tiles go to separate accumulators: two dependent mma chains instead of one, for the
// shapes (TN * NT <= 2) that would otherwise wait on a single chain.
template <typename T, bool INT4, int GROUP, int NT, int TN, int S, int H>
GE_DEVICE void wo_gemv_batch(const uint4 (&w)[S][TN], int c, int ce, unsigned lane_base, unsigned kmul,
                             const float* ss, int g, float (&acc)[H][TN][NT][4], float (&part)[H][TN][NT][4]) {
    constexpr int CHUNK_K = INT4 ? 64 : 32;
    constexpr int KT = CHUNK_K / 16;
    constexpr int CPG = GROUP == 0 ? 1 : GROUP / CHUNK_K;
    constexpr int GDIV = GROUP == 0 ? 1 : GROUP;
#pragma unroll
    for (int j = 0; j < S; ++j) {
        if (c + j >= ce) break;   // ranges hold whole groups, so this never splits one
#pragma unroll
        for (int kt = 0; kt < KT; ++kt) {
            unsigned b[4];
            const unsigned addr = lane_base + (unsigned)((c + j) * CHUNK_K + kt * 16) * kmul;
            if (NT == 2) ptx_ldmatrix_x4(b[0], b[1], b[2], b[3], addr);
            else { ptx_ldmatrix_x2(b[0], b[1], addr); b[2] = b[3] = 0u; }
#pragma unroll
            for (int i = 0; i < TN; ++i) {
                unsigned a[4];
                wo_a_frag<T, INT4>(w[j][i], kt, a);
#pragma unroll
                for (int q = 0; q < NT; ++q)
                    ptx_mma_m16n8k16<T>(GROUP != 0 ? part[kt % H][i][q] : acc[kt % H][i][q], a, b + 2 * q);
            }
        }
        if (GROUP != 0 && (c + j) % CPG == CPG - 1) {
            const float* sg = ss + ((c + j) * CHUNK_K / GDIV) * (TN * 16);
#pragma unroll
            for (int i = 0; i < TN; ++i) {
#if defined(GE_MUTANT_WO_SCALE_INDEX)
                const float s_lo = sg[i * 16 + (g ^ 1)], s_hi = sg[i * 16 + (g ^ 1) + 8];
#else
                const float s_lo = sg[i * 16 + g], s_hi = sg[i * 16 + g + 8];
#endif
#pragma unroll
                for (int q = 0; q < NT; ++q)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        float p = part[0][i][q][e];
                        if (H == 2) p += part[H - 1][i][q][e];
                        acc[0][i][q][e] += (e < 2 ? s_lo : s_hi) * p;
#pragma unroll
                        for (int h = 0; h < H; ++h) part[h][i][q][e] = 0.0f;
                    }
            }
        }
    }
}

#ifndef WO_GEMV_WARPS
#define WO_GEMV_WARPS 8
#endif

template <typename T, bool INT4, int GROUP, int NT, int TN>
__global__ void __launch_bounds__(WO_GEMV_WARPS * 32, 2)
wo_gemv(const T* __restrict__ x,              // [rows, K]
        const uint4* __restrict__ wq,         // [Npad/16, chunks_k, 32] x 16 bytes
        const float* __restrict__ scales,     // [groups, Npad]
        const T* __restrict__ bias,           // [N] or null
        T* __restrict__ out,                  // [rows, N]
        const int* __restrict__ n_tokens,     // device scalar or null
        int rows, int N, int K, int Npad, int chunks_k, int chunks_per_warp, int groups, int x_aligned) {
    constexpr int CHUNK_K = INT4 ? 64 : 32;
    constexpr int CPG = GROUP == 0 ? 1 : GROUP / CHUNK_K;            // chunks per scale group
    constexpr int UNITS = (TN * NT >= 8) ? 4 : 8;                    // 16-byte loads per lane per batch
    constexpr int S0 = UNITS / TN;
    constexpr int S = S0 < CPG ? CPG : S0;                           // chunks per batch (whole groups)
    constexpr int V = TN * NT * 4;                                    // accumulators per lane
    constexpr int H = TN * NT <= 2 ? 2 : 1;                           // mma chains per accumulator
    constexpr int WARPS = WO_GEMV_WARPS;
    extern __shared__ __align__(16) unsigned char wo_smem[];

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2;
    const int tiles = Npad / 16;
    const int tile0 = blockIdx.x * TN;
    const int Kpad = chunks_k * CHUNK_K;
    const int ldx = Kpad + 8;
    float* ss = reinterpret_cast<float*>(wo_smem + 16);
    float* sb = ss + groups * TN * 16;
    T* xs = reinterpret_cast<T*>(wo_smem + ((16 + (groups + 1) * TN * 16 * 4 + 15) & ~15));

    const int cb = warp * chunks_per_warp;
#if defined(GE_MUTANT_WO_DROP_LAST_K)
    const int ce = min(chunks_k - 1, cb + chunks_per_warp);
#else
    const int ce = min(chunks_k, cb + chunks_per_warp);
#endif

    // 1. Weights of the first two batches (independent of everything else). Two batches alternate
    //    from here on: one is multiplied while the other is in flight.
    uint4 wa[S][TN], wb[S][TN];
    wo_gemv_load<S, TN>(wa, wq, tile0, tiles, chunks_k, cb, ce, lane);
    wo_gemv_load<S, TN>(wb, wq, tile0, tiles, chunks_k, cb + S, ce, lane);

    // 2. Activations of every row the host launched for (not only the valid ones: waiting for the
    //    token count first would put a second round trip in front of the multiply), scales and bias,
    //    all with cp.async so every load is in flight at once.
    const int vecs = Kpad / 8;
    for (int i = threadIdx.x; i < rows * vecs; i += blockDim.x) {
        int r = i / vecs;
        int kk = (i - r * vecs) * 8;
        T* dst = xs + r * ldx + kk;
        if (x_aligned && kk + 8 <= K)
            ptx_cp_async_cg16(dst, x + (long long)r * K + kk);
        else
            wo_stage8(dst, x, r, rows, kk, K, 0);
    }
    for (int i = threadIdx.x; i < groups * TN * 4; i += blockDim.x) {
        int gi = i / (TN * 4), c = (i - gi * (TN * 4)) * 4;
        int n = tile0 * 16 + c;   // Npad is a multiple of 16: a vector of 4 is wholly in or out
        if (n < Npad) ptx_cp_async_cg16(ss + gi * (TN * 16) + c, scales + (long long)gi * Npad + n);
        else *reinterpret_cast<float4*>(ss + gi * (TN * 16) + c) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    ptx_cp_async_commit();
    for (int c = threadIdx.x; c < TN * 16; c += blockDim.x) {
        int n = tile0 * 16 + c;
        sb[c] = (bias && n < N) ? ge_to_float(bias[n]) : 0.0f;
    }
    if (threadIdx.x < 4) reinterpret_cast<unsigned*>(wo_smem)[threadIdx.x] = 0u;
    const int valid = ge_valid_rows(n_tokens, rows);
    ptx_cp_async_wait<0>();
    __syncthreads();
    if (valid <= 0) return;   // uniform across the block

    // ldmatrix row addresses: rows at or past the valid count read the zero row (stride 0).
    const int mrow = NT == 1 ? (lane & 7) : ((lane & 7) + ((lane >> 4) << 3));
    const int mcol = ((lane >> 3) & 1) * 8;
    const bool row_ok = mrow < valid;
    const unsigned zero_addr = ptx_smem_addr(wo_smem);
    const unsigned lane_base = row_ok ? ptx_smem_addr(xs + mrow * ldx + mcol) : zero_addr;
    const unsigned kmul = row_ok ? (unsigned)sizeof(T) : 0u;

    float acc[H][TN][NT][4];
    float part[H][TN][NT][4];
#pragma unroll
    for (int h = 0; h < H; ++h)
#pragma unroll
        for (int i = 0; i < TN; ++i)
#pragma unroll
            for (int q = 0; q < NT; ++q)
#pragma unroll
                for (int e = 0; e < 4; ++e) { acc[h][i][q][e] = 0.0f; part[h][i][q][e] = 0.0f; }

    for (int c = cb; c < ce; c += 2 * S) {
        wo_gemv_batch<T, INT4, GROUP, NT, TN, S, H>(wa, c, ce, lane_base, kmul, ss, g, acc, part);
        wo_gemv_load<S, TN>(wa, wq, tile0, tiles, chunks_k, c + 2 * S, ce, lane);
        wo_gemv_batch<T, INT4, GROUP, NT, TN, S, H>(wb, c + S, ce, lane_base, kmul, ss, g, acc, part);
        wo_gemv_load<S, TN>(wb, wq, tile0, tiles, chunks_k, c + 3 * S, ce, lane);
    }

    // 3. K reduction across the warps, in warp order (deterministic), then scale, bias, store.
    __syncthreads();   // every warp is done with xs
    float* red = reinterpret_cast<float*>(xs);
#if defined(GE_MUTANT_WO_RACY_REDUCTION)
    ge_hold_back(warp != 0);
#endif
#pragma unroll
    for (int i = 0; i < TN; ++i)
#pragma unroll
        for (int q = 0; q < NT; ++q)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                float v = acc[0][i][q][e];
                if (H == 2 && GROUP == 0) v += acc[H - 1][i][q][e];   // groups fold both chains into acc[0]
                red[(warp * V + (i * NT + q) * 4 + e) * 32 + lane] = v;
            }
#if !defined(GE_MUTANT_WO_RACY_REDUCTION)
    __syncthreads();
#endif
    for (int idx = threadIdx.x; idx < V * 32; idx += blockDim.x) {
        const int l = idx & 31, qe = idx >> 5;
        const int e = qe & 3, iq = qe >> 2;
        const int i = iq / NT, q = iq - i * NT;
        const int tok = q * 8 + 2 * (l & 3) + (e & 1);
        const int c = i * 16 + (l >> 2) + (e >> 1) * 8;
        const int n = tile0 * 16 + c;
#if defined(GE_MUTANT_WO_SKIP_PAD_GUARD)
        if (tok >= rows || n >= N) continue;
#else
        if (tok >= valid || n >= N) continue;
#endif
        float v = 0.0f;
#pragma unroll
        for (int wi = 0; wi < WARPS; ++wi) v += red[wi * V * 32 + idx];
#if defined(GE_MUTANT_WO_SCALE_INDEX)
        if (GROUP == 0) v *= ss[c ^ 1];
#else
        if (GROUP == 0) v *= ss[c];
#endif
        v += sb[c];
        out[(long long)tok * N + n] = ge_from_float<T>(v);
    }
}

// ---------------------------------------------------------------------------------------------
// Many tokens, dequantize-then-GEMM: the packed weights are expanded to T [N, K] (w = q * scale in
// fp32, rounded once to T), then the dense GEMM (cuBLASLt) runs on them. A block is 8 warps on one
// 16-channel tile and 8 consecutive chunks: each lane dequantizes its 16 bytes (A-fragment values of
// CHUNK_K / 16 k-tiles) into a shared [16][8 * CHUNK_K] tile, which then goes out as whole rows with
// 16-byte stores (the fragment order would make 4-byte stores scattered over 8 rows).
#define WO_DQ_CHUNKS 8
template <typename T, bool INT4, int GROUP>
__global__ void __launch_bounds__(WO_DQ_CHUNKS * 32)
wo_dequantize(const uint4* __restrict__ wq,       // [Npad/16, chunks_k, 32] x 16 bytes
              const float* __restrict__ scales,   // [groups, Npad]
              T* __restrict__ w,                  // [N, K]
              int N, int K, int Npad, int chunks_k) {
    constexpr int CHUNK_K = INT4 ? 64 : 32;
    constexpr int KT = CHUNK_K / 16;
    constexpr int GDIV = GROUP == 0 ? 1 << 30 : GROUP;
    constexpr int COLS = WO_DQ_CHUNKS * CHUNK_K;
    constexpr int LD = COLS + 8;                     // 16-byte pad between rows
    __shared__ __align__(16) unsigned char dq_raw[16 * LD * sizeof(T)];
    T* tile_s = reinterpret_cast<T*>(dq_raw);

    const int tile = blockIdx.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int chunk = blockIdx.x * WO_DQ_CHUNKS + warp;
    if (chunk < chunks_k) {
        const uint4 c = __ldg(wq + ((long long)tile * chunks_k + chunk) * 32 + lane);
        const int gi = GROUP == 0 ? 0 : chunk * CHUNK_K / GDIV;   // a chunk never straddles a group
        const float s_lo = scales[(long long)gi * Npad + tile * 16 + g];
        const float s_hi = scales[(long long)gi * Npad + tile * 16 + g + 8];
#pragma unroll
        for (int kt = 0; kt < KT; ++kt) {
            unsigned a[4];
            wo_a_frag<T, INT4>(c, kt, a);
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const float s = (r & 1) ? s_hi : s_lo;
                const T* q = reinterpret_cast<const T*>(&a[r]);
                T pair[2] = {ge_from_float<T>(ge_to_float(q[0]) * s), ge_from_float<T>(ge_to_float(q[1]) * s)};
                const int row = g + 8 * (r & 1);
                const int col = warp * CHUNK_K + kt * 16 + 2 * t + 8 * (r >> 1);
                *reinterpret_cast<unsigned*>(tile_s + row * LD + col) = *reinterpret_cast<const unsigned*>(pair);
            }
        }
    }
    __syncthreads();
    const int k0 = blockIdx.x * COLS;
    const bool vec_ok = (K & 7) == 0;
    for (int i = threadIdx.x; i < 16 * (COLS / 8); i += blockDim.x) {
        const int row = i / (COLS / 8), col = (i - row * (COLS / 8)) * 8;
        const int n = tile * 16 + row, k = k0 + col;
#if defined(GE_MUTANT_WO_DEQUANT_LAST_ROW)
        if (n >= N - 1 || k >= K) continue;
#else
        if (n >= N || k >= K) continue;
#endif
        const T* src = tile_s + row * LD + col;
        T* dst = w + (long long)n * K + k;
        if (vec_ok) {
            *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);   // k + 8 <= K (K % 8 == 0)
        } else {
            for (int e = 0; e < 8 && k + e < K; ++e) dst[e] = src[e];
        }
    }
}
