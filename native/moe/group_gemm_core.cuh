// The tile body shared by the group GEMMs (group_gemm.cu: tile schedule from the device offsets;
// wi4a16_group_gemm.cu: tile list planned on the host). One block of 128 threads computes a
// BM x 64 tile of C for one expert with mma.sync m16n8k16 (fp32 accumulate). Weights are decoded
// to the activation type in the load path: integer codes convert exactly, and scales are applied
// to fp32 partial sums (per channel at the end, per group at each group's end), so a quantized
// product is exact up to fp32 accumulation.
//
// SWIGLU = 1 (bf16/fp16, int8, int4 weights) fuses SwiGLU into the epilogue (swiglu_epilogue.cuh): each warp's WTN
// weight rows are WTN / 2 gate rows and the matching up rows, so a thread's n8 tile j holds gate sums and tile
// j + NT / 2 the up sums of the same columns of C, which has N / 2 columns.
#pragma once
#include "ptx.cuh"
#include "moe/swiglu_epilogue.cuh"

#define GG_BN 64
#define GG_THREADS 128
// K tile BK is a template argument: 128 at BM = 16, where small n is memory-bound and each block should
// keep more weight bytes in flight; 64 at BM = 64. Shared rows are BK + 8 halves: 144 or 272 bytes keep
// 16-byte stores aligned and put the 8 rows of an mma fragment load in distinct banks.

// Weight storage modes (template argument WMODE).
#define GG_HALF 0      // [N, K] activation type
#define GG_INT8 1      // [N, K] int8, scale per (n, group)
#define GG_INT4 2      // [N, K/2] signed int4 nibbles, scale per (n, group)
#define GG_INT4_ZP 3   // [N, K/2] unsigned int4 nibbles, (q - zero) * scale per (n, group)

template <typename T> GE_DEVICE unsigned short ge_bits_from_float(float v);
template <> GE_DEVICE unsigned short ge_bits_from_float<__nv_bfloat16>(float v) { return __bfloat16_as_ushort(__float2bfloat16_rn(v)); }
template <> GE_DEVICE unsigned short ge_bits_from_float<__half>(float v) { return __half_as_ushort(__float2half_rn(v)); }

GE_DEVICE unsigned ge_pack2(unsigned short lo, unsigned short hi) { return (unsigned)lo | ((unsigned)hi << 16); }

// Raw bytes of eight consecutive K elements of weight row n (zero past K): 16 bytes of halves, 8 of
// int8 (x, y) or 4 of nibbles (x). Split from decoding so the next tile's loads are in flight while the
// current tile multiplies.
template <int WMODE>
GE_DEVICE uint4 ge_load_w_raw(const void* w, int n, int k, int K, bool vec) {
    uint4 r = make_uint4(0u, 0u, 0u, 0u);
    if (WMODE == GG_HALF) {
        const unsigned short* src = reinterpret_cast<const unsigned short*>(w) + (long long)n * K + k;
        if (vec && k + 8 <= K) return *reinterpret_cast<const uint4*>(src);
        unsigned short h[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) h[j] = (k + j < K) ? src[j] : (unsigned short)0;
        r.x = ge_pack2(h[0], h[1]); r.y = ge_pack2(h[2], h[3]);
        r.z = ge_pack2(h[4], h[5]); r.w = ge_pack2(h[6], h[7]);
    } else if (WMODE == GG_INT8) {
        const unsigned char* src = reinterpret_cast<const unsigned char*>(w) + (long long)n * K + k;
        if (vec && k + 8 <= K) {
            uint2 v = *reinterpret_cast<const uint2*>(src);
            r.x = v.x; r.y = v.y;
        } else {
#pragma unroll
            for (int j = 0; j < 8; ++j)
                if (k + j < K) { if (j < 4) r.x |= (unsigned)src[j] << (8 * j); else r.y |= (unsigned)src[j] << (8 * (j - 4)); }
        }
    } else {
        // Packed nibbles, low nibble = even k. Rows start on a byte since K is even.
        const unsigned char* row = reinterpret_cast<const unsigned char*>(w) + (long long)n * (K >> 1);
        if (vec && k + 8 <= K) {
            r.x = *reinterpret_cast<const unsigned*>(row + (k >> 1));
        } else {
#pragma unroll
            for (int j = 0; j < 8; j += 2)
                if (k + j < K) r.x |= (unsigned)row[(k + j) >> 1] << (4 * j);
        }
    }
    return r;
}

// Raw weight bytes -> eight activation-type values. Integer codes convert exactly; wi4a16 subtracts its
// zero point first. Codes past K decode to finite values and meet zero activations.
template <typename T, int WMODE>
GE_DEVICE uint4 ge_decode_w8(uint4 raw, float zero) {
    if (WMODE == GG_HALF) return raw;
    unsigned short h[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
        float v;
        if (WMODE == GG_INT8) {
            v = (float)(int)(signed char)(((j < 4 ? raw.x : raw.y) >> (8 * (j & 3))) & 0xffu);
        } else {
            const int q = (int)((raw.x >> (4 * j)) & 15u);
            v = (WMODE == GG_INT4) ? (float)(q >= 8 ? q - 16 : q) : (float)q - zero;
        }
        h[j] = ge_bits_from_float<T>(v);
    }
    uint4 r;
    r.x = ge_pack2(h[0], h[1]);
    r.y = ge_pack2(h[2], h[3]);
    r.z = ge_pack2(h[4], h[5]);
    r.w = ge_pack2(h[6], h[7]);
    return r;
}

// Global -> registers for the K tile at k0 (A rows past row_end and columns past K are zero).
// Chunk c of a tile covers row c / (BK / 8), columns (c % (BK / 8)) * 8 .. + 8.
template <int WMODE, int BM, int BK, int SWIGLU, int SPAN>
GE_DEVICE void ge_load_tile(const unsigned short* __restrict__ A, int row_begin, int row_end,
                            const void* __restrict__ w, const float* __restrict__ zeros,
                            int N, int K, int group_size, int groups, int col0, int k0, bool vec,
                            uint4 (&ra)[BM * BK / 8 / GG_THREADS], uint4 (&rw)[GG_BN * BK / 8 / GG_THREADS],
                            float (&rz)[GG_BN * BK / 8 / GG_THREADS]) {
    constexpr int CPR = BK / 8;   // chunks per row
    const int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < BM * BK / 8 / GG_THREADS; ++i) {
        const int chunk = tid + i * GG_THREADS;
        const int r = chunk / CPR, k = k0 + (chunk % CPR) * 8;
        const int row = row_begin + r;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (row < row_end) {
            const unsigned short* src = A + (long long)row * K + k;
            if (vec && k + 8 <= K) {
                v = *reinterpret_cast<const uint4*>(src);
            } else {
                unsigned short h[8];
#pragma unroll
                for (int j = 0; j < 8; ++j) h[j] = (k + j < K) ? src[j] : (unsigned short)0;
                v.x = ge_pack2(h[0], h[1]); v.y = ge_pack2(h[2], h[3]);
                v.z = ge_pack2(h[4], h[5]); v.w = ge_pack2(h[6], h[7]);
            }
        }
        ra[i] = v;
    }
    const int grp = k0 / group_size;
#pragma unroll
    for (int i = 0; i < GG_BN * BK / 8 / GG_THREADS; ++i) {
        const int chunk = tid + i * GG_THREADS;
        const int n = ge_tile_weight_row<SWIGLU, SPAN>(chunk / CPR, col0, N), k = k0 + (chunk % CPR) * 8;
        rw[i] = make_uint4(0u, 0u, 0u, 0u);
        rz[i] = 0.0f;
        if (n >= 0) {
            rw[i] = ge_load_w_raw<WMODE>(w, n, k, K, vec);
            if (WMODE == GG_INT4_ZP) rz[i] = zeros[(long long)n * groups + grp];
        }
    }
}

// One BM x 64 tile: rows [row_begin, row_end) of A and C (absolute rows), weight rows [col0, col0 + 64) (SWIGLU: the
// gate and up rows of C's columns [col0, col0 + 32)). w/scales/zeros point at this expert's slice. group_size:
// K-elements per scale (a multiple of BK, or >= K for per-channel), groups: scales per output row.
template <typename T, int WMODE, int BM, int BK, int SWIGLU = 0>
GE_DEVICE void ge_group_tile(const unsigned short* __restrict__ A, // [rows, K] activation bits
                             int row_begin, int row_end,
                             const void* __restrict__ w,            // this expert's [N, K] weights
                             const float* __restrict__ scales,      // this expert's [N, groups] or null
                             const float* __restrict__ zeros,       // this expert's [N, groups] (GG_INT4_ZP)
                             unsigned short* __restrict__ C,        // [rows, N] output bits; SWIGLU: [rows, N / 2]
                             int N, int K, int group_size, int groups, int col0) {
    constexpr int WM = BM / 16;            // warps along M
    constexpr int WN = 4 / WM;             // warps along N
    constexpr int NT = GG_BN / WN / 8;     // n8 tiles per warp
    constexpr int CPR = BK / 8;            // 16-byte chunks per tile row
    constexpr int A_CHUNKS = BM * CPR / GG_THREADS;
    constexpr int W_CHUNKS = GG_BN * CPR / GG_THREADS;
    static_assert(WM * WN == 4, "4 warps per block");
    static_assert(BK % 16 == 0 && A_CHUNKS * GG_THREADS == BM * CPR && W_CHUNKS * GG_THREADS == GG_BN * CPR, "tile split");
    constexpr int WTN = GG_BN / WN;        // weight rows per warp: the SWIGLU pairing span
    __shared__ __align__(16) unsigned short As[BM][BK + 8];
    __shared__ __align__(16) unsigned short Ws[GG_BN][BK + 8];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int g = lane >> 2, c = lane & 3;
    const bool vec = (K & 7) == 0;

    float acc[NT][4];
    float part[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) { acc[j][i] = 0.0f; part[j][i] = 0.0f; }

    uint4 ra[A_CHUNKS], rw[W_CHUNKS];
    float rz[W_CHUNKS];

    ge_load_tile<WMODE, BM, BK, SWIGLU, WTN>(A, row_begin, row_end, w, zeros, N, K, group_size, groups, col0, 0, vec, ra, rw, rz);
#if defined(GE_MUTANT_GG_DROP_LAST_K)
    for (int k0 = 0; k0 + BK < K; k0 += BK) {
#else
    for (int k0 = 0; k0 < K; k0 += BK) {
#endif
        // Registers -> shared (decoding the weights), then start the next tile's loads before the math.
#pragma unroll
        for (int i = 0; i < A_CHUNKS; ++i) {
            const int chunk = tid + i * GG_THREADS;
            *reinterpret_cast<uint4*>(&As[chunk / CPR][(chunk % CPR) * 8]) = ra[i];
        }
#pragma unroll
        for (int i = 0; i < W_CHUNKS; ++i) {
            const int chunk = tid + i * GG_THREADS;
            *reinterpret_cast<uint4*>(&Ws[chunk / CPR][(chunk % CPR) * 8]) = ge_decode_w8<T, WMODE>(rw[i], rz[i]);
        }
        __syncthreads();
        if (k0 + BK < K) ge_load_tile<WMODE, BM, BK, SWIGLU, WTN>(A, row_begin, row_end, w, zeros, N, K, group_size, groups, col0, k0 + BK, vec, ra, rw, rz);
        const int grp = k0 / group_size;

#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            const int ar = wm * 16 + g;
            unsigned a[4];
            a[0] = *reinterpret_cast<const unsigned*>(&As[ar][kk + 2 * c]);
            a[1] = *reinterpret_cast<const unsigned*>(&As[ar + 8][kk + 2 * c]);
            a[2] = *reinterpret_cast<const unsigned*>(&As[ar][kk + 2 * c + 8]);
            a[3] = *reinterpret_cast<const unsigned*>(&As[ar + 8][kk + 2 * c + 8]);
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int br = wn * (GG_BN / WN) + j * 8 + g;
                unsigned b[2];
                b[0] = *reinterpret_cast<const unsigned*>(&Ws[br][kk + 2 * c]);
                b[1] = *reinterpret_cast<const unsigned*>(&Ws[br][kk + 2 * c + 8]);
                ptx_mma_m16n8k16<T>(part[j], a, b);
            }
        }
        __syncthreads();

        // Fold the partial sums at the end of each scale group (per channel: only at the end of K).
        if (WMODE == GG_HALF) continue;
        const bool group_end = ((k0 + BK) % group_size) == 0 || k0 + BK >= K;
        if (group_end) {
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int n0 = ge_tile_weight_row<SWIGLU, WTN>(wn * WTN + j * 8 + 2 * c, col0, N);
                const int n1 = ge_tile_weight_row<SWIGLU, WTN>(wn * WTN + j * 8 + 2 * c + 1, col0, N);
                const float s0 = n0 >= 0 ? scales[(long long)n0 * groups + grp] : 0.0f;
                const float s1 = n1 >= 0 ? scales[(long long)n1 * groups + grp] : 0.0f;
                acc[j][0] = __fmaf_rn(part[j][0], s0, acc[j][0]);
                acc[j][1] = __fmaf_rn(part[j][1], s1, acc[j][1]);
                acc[j][2] = __fmaf_rn(part[j][2], s0, acc[j][2]);
                acc[j][3] = __fmaf_rn(part[j][3], s1, acc[j][3]);
#pragma unroll
                for (int i = 0; i < 4; ++i) part[j][i] = 0.0f;
            }
        }
    }

    // Epilogue: C fragment rows g and g + 8, columns 2c and 2c + 1 of each n8 tile (SWIGLU: of the gate tiles j < NT / 2,
    // paired with up tile j + NT / 2).
    constexpr int JC = SWIGLU ? NT / 2 : NT;
    const int ldc = SWIGLU ? N >> 1 : N;
#pragma unroll
    for (int j = 0; j < JC; ++j) {
        const int n = col0 + wn * (SWIGLU ? WTN / 2 : WTN) + j * 8 + 2 * c;
        const float* v = (WMODE == GG_HALF) ? part[j] : acc[j];
        const float* u = (WMODE == GG_HALF) ? part[j + JC * SWIGLU] : acc[j + JC * SWIGLU];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = row_begin + wm * 16 + g + 8 * h;
#if defined(GE_MUTANT_GG_LAST_ROW)
            if (row >= row_end - 1) continue;
#else
            if (row >= row_end) continue;
#endif
            unsigned short* out = C + (long long)row * ldc;
            const float v0 = SWIGLU ? ge_swiglu_of_sums<T>(v[2 * h], u[2 * h]) : v[2 * h];
            const float v1 = SWIGLU ? ge_swiglu_of_sums<T>(v[2 * h + 1], u[2 * h + 1]) : v[2 * h + 1];
            if (n < ldc) out[n] = ge_bits_from_float<T>(v0);
            if (n + 1 < ldc) out[n + 1] = ge_bits_from_float<T>(v1);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Pipelined tile (group_gemm.cu's main variants): WM x WN warps, a BM x BN tile of C, K tiles of BK
// staged through a STAGES-deep cp.async ring in dynamic shared memory, fragments by ldmatrix, mma.sync
// m16n8k16. Each weight row contributes BK * bytes-per-code contiguous bytes per stage (the launcher
// keeps that at 128-256 bytes: shorter pieces of many rows cost DRAM efficiency). Integer weights arrive
// raw (int8 or int4, a half or a quarter of the bytes) and are decoded once per block, KS columns at a
// time, into a shared half tile, so the MMA loop is the same for every format. Requires K % BK == 0,
// BK % KS == 0 and, grouped, group_size % KS == 0 (the launcher checks); rows past row_end and weight
// rows past N are zero-filled by the copy itself, so padded rows (NaN included) are never read.
// ---------------------------------------------------------------------------------------------------
#define GP_PAD 8   // halves of padding per shared row: rows of BK + 8 halves put ldmatrix's 8 row reads in distinct banks

template <typename T> struct ge_is_bf16 { static constexpr bool value = false; };
template <> struct ge_is_bf16<__nv_bfloat16> { static constexpr bool value = true; };

template <typename T> struct ge_magic;   // bit patterns of 1.0, the 2^k base an OR-ed code sits on, and minus (base + bias)
// bf16: 0x4300 = 128 (ulp 1 up to 256); 0xC308 = -136 = -(128 + 8); 0x3F80 = 1.
// minus_int8 is unused: 8-bit codes do not fit bf16's mantissa (see ge_decode_fast8).
template <> struct ge_magic<__nv_bfloat16> { static constexpr unsigned one = 0x3F803F80u, base = 0x43004300u, minus_int4 = 0xC308C308u, minus_int8 = 0u; };
// fp16: 0x6400 = 1024 (ulp 1 up to 2048); 0xE408 = -1032; 0xE480 = -1152 = -(1024 + 128); 0x3C00 = 1.
template <> struct ge_magic<__half> { static constexpr unsigned one = 0x3C003C00u, base = 0x64006400u, minus_int4 = 0xE408E408u, minus_int8 = 0xE480E480u; };

// Two floats (exact small integers here) -> packed activation-type pair, low half first.
template <typename T> GE_DEVICE unsigned ge_pack_float2(float lo, float hi) {
    return ge_pack2(ge_bits_from_float<T>(lo), ge_bits_from_float<T>(hi));
}

// Eight weight codes -> eight activation-type values with a few integer and packed-half instructions
// and no I2F (quarter rate). A code biased to unsigned u (q + 8 for int4, q + 128 for int8) is placed in
// the mantissa of a power of two whose ulp is 1, and one packed FMA subtracts that power plus the bias:
// every step is exact, so the values equal ge_decode_w8's. bf16 has too few mantissa bits for 8-bit codes,
// so int8 -> bf16 goes through the same trick in fp32 (2^23) and one exact conversion per pair.
template <typename T, int WMODE>
GE_DEVICE uint4 ge_decode_fast8(unsigned lo, unsigned hi) {
    unsigned o[4];
    if (WMODE == GG_INT4) {
        const unsigned x = lo ^ 0x88888888u;   // two's complement nibble q -> q + 8
        const unsigned y = x >> 4;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            // Byte i of x (low nibble: code 2i) and of y (low nibble: code 2i + 1) into the two halves.
            const unsigned t = __byte_perm(x, y, (unsigned)(i | (i << 4) | ((4 + i) << 8) | ((4 + i) << 12)));
            o[i] = ptx_fma2<T>((t & 0x000F000Fu) | ge_magic<T>::base, ge_magic<T>::one, ge_magic<T>::minus_int4);
        }
    } else if (ge_is_bf16<T>::value) {
        const unsigned x0 = lo ^ 0x80808080u, x1 = hi ^ 0x80808080u;   // two's complement byte q -> q + 128
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const unsigned x = i < 2 ? x0 : x1;
            const int b = (i & 1) * 2;
            // 0x4B0000uu = 2^23 + u as fp32.
            const float f0 = __uint_as_float(__byte_perm(x, 0x4B000000u, (unsigned)(b | (4 << 4) | (4 << 8) | (7 << 12)))) - 8388736.0f;
            const float f1 = __uint_as_float(__byte_perm(x, 0x4B000000u, (unsigned)((b + 1) | (4 << 4) | (4 << 8) | (7 << 12)))) - 8388736.0f;
            o[i] = ge_pack_float2<T>(f0, f1);
        }
    } else {
        const unsigned x0 = lo ^ 0x80808080u, x1 = hi ^ 0x80808080u;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const unsigned x = i < 2 ? x0 : x1;
            const int b = (i & 1) * 2;
            // Halves 0x64uu = 1024 + u: bytes (u_b, 0x64, u_b+1, 0x64); y's byte 3 (selector 7) is 0x64.
            const unsigned t = __byte_perm(x, 0x64000000u, (unsigned)(b | (7 << 4) | ((b + 1) << 8) | (7 << 12)));
            o[i] = ptx_fma2<T>(t, ge_magic<T>::one, ge_magic<T>::minus_int8);
        }
    }
    return make_uint4(o[0], o[1], o[2], o[3]);
}

// Shared-memory layout of the pipelined tile, in bytes (the launcher computes the same sum).
template <int WMODE, int BM, int BN, int BK, int KS, int STAGES>
struct gp_smem {
    static constexpr int a_stage = BM * (BK + GP_PAD) * 2;
    // Half weights are read by ldmatrix straight from the stage (padded rows); raw codes are read once
    // by the decoder, row-contiguous.
    static constexpr int w_row = WMODE == GG_HALF ? (BK + GP_PAD) * 2 : WMODE == GG_INT8 ? BK : BK / 2;
    static constexpr int w_stage = BN * w_row;
    static constexpr int decoded = WMODE == GG_HALF ? 0 : BN * (KS + GP_PAD) * 2;
    static constexpr int bytes = STAGES * (a_stage + w_stage) + decoded;
};

// Issues the copies of K tile kt into ring slot `slot`: A rows [row_begin, row_end) and the BN weight rows of the block
// whose C columns start at col0 (ge_tile_weight_row, pieces of SPAN rows when SWIGLU).
template <int WMODE, int BM, int BN, int BK, int KS, int STAGES, int NTHREADS, int SWIGLU, int SPAN>
GE_DEVICE void gp_load_stage(unsigned char* smem, int slot, int kt,
                             const unsigned short* __restrict__ A, int row_begin, int row_end,
                             const unsigned char* __restrict__ w, int N, int K, int col0) {
    typedef gp_smem<WMODE, BM, BN, BK, KS, STAGES> L;
    const int tid = threadIdx.x;
    const int k0 = kt * BK;
    unsigned short* as = reinterpret_cast<unsigned short*>(smem + slot * L::a_stage);
    constexpr int A_CPR = BK / 8;
#pragma unroll 4
    for (int c = tid; c < BM * A_CPR; c += NTHREADS) {
        const int r = c / A_CPR, kc = c % A_CPR;
        const int row = row_begin + r;
        const bool ok = row < row_end;
        const unsigned short* src = ok ? A + (long long)row * K + k0 + kc * 8 : A;
        ptx_cp_async_cg16_zfill(as + r * (BK + GP_PAD) + kc * 8, src, ok);
    }
    unsigned char* ws = smem + STAGES * L::a_stage + slot * L::w_stage;
    // 16-byte chunks per weight row of the K tile, and bytes per weight row in global memory.
    constexpr int W_CPR = WMODE == GG_HALF ? BK / 8 : WMODE == GG_INT8 ? BK / 16 : BK / 32;
    const long long grow = WMODE == GG_HALF ? (long long)K * 2 : WMODE == GG_INT8 ? (long long)K : (long long)(K >> 1);
    const int gk = WMODE == GG_HALF ? k0 * 2 : WMODE == GG_INT8 ? k0 : (k0 >> 1);
#pragma unroll 4
    for (int c = tid; c < BN * W_CPR; c += NTHREADS) {
        const int r = c / W_CPR, kc = c % W_CPR;
        const int n = ge_tile_weight_row<SWIGLU, SPAN>(r, col0, N);
        const bool ok = n >= 0;
        const unsigned char* src = ok ? w + (long long)n * grow + gk + kc * 16 : w;
        ptx_cp_async_cg16_zfill(ws + r * L::w_row + kc * 16, src, ok);
    }
}

// MMAs of one K slice of KW columns: A from `as` (row stride LDA halves, starting at the slice), weights
// from `ws` (row stride LDW).
template <typename T, int MT, int NT, int KW, int LDA, int LDW>
GE_DEVICE void gp_mma_slice(float (&acc)[MT][NT][4], const unsigned short* as, const unsigned short* ws, int lane) {
#pragma unroll
    for (int kk = 0; kk < KW; kk += 16) {
        unsigned a[MT][4], b[NT][2];
#pragma unroll
        for (int i = 0; i < MT; ++i)
            ptx_ldmatrix_x4(a[i][0], a[i][1], a[i][2], a[i][3], as + (i * 16 + (lane & 15)) * LDA + kk + (lane >> 4) * 8);
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            unsigned r[4];
            ptx_ldmatrix_x4(r[0], r[1], r[2], r[3], ws + (j * 8 + (lane >> 4) * 8 + (lane & 7)) * LDW + kk + ((lane >> 3) & 1) * 8);
            b[j][0] = r[0]; b[j][1] = r[1]; b[j + 1][0] = r[2]; b[j + 1][1] = r[3];
        }
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j) ptx_mma_m16n8k16<T>(acc[i][j], a[i], b[j]);
    }
}

// One BM x BN tile of the product: rows [row_begin, row_end), weight rows [col0, col0 + BN) (SWIGLU: the gate and up rows
// of C's columns [col0, col0 + BN / 2), WTN-row pieces per warp). w/scales point at this expert's slice. GROUPED: scales
// per group of group_size along K folded at each group's end; otherwise one scale per channel applied at the end (Half: none).
template <typename T, int WMODE, int GROUPED, int BM, int BN, int BK, int KS, int STAGES, int WM_WARPS, int WN_WARPS, int SWIGLU = 0>
GE_DEVICE void ge_pipe_tile(unsigned char* smem,
                            const unsigned short* __restrict__ A, // [rows, K] activation bits
                            int row_begin, int row_end,
                            const unsigned char* __restrict__ w,  // this expert's [N, K] weights (raw bytes)
                            const float* __restrict__ scales,     // this expert's [N, groups] or null
                            unsigned short* __restrict__ C,       // [rows, N] output bits; SWIGLU: [rows, N / 2]
                            int N, int K, int group_size, int groups, int col0) {
    typedef gp_smem<WMODE, BM, BN, BK, KS, STAGES> L;
    constexpr int NTHREADS = 32 * WM_WARPS * WN_WARPS;
    constexpr int WTM = BM / WM_WARPS, WTN = BN / WN_WARPS;   // warp tile
    constexpr int MT = WTM / 16, NT = WTN / 8;
    constexpr bool QUANT = WMODE != GG_HALF;
    constexpr int KW = QUANT ? KS : BK;   // columns per MMA slice
    static_assert(MT * 16 == WTM && NT * 8 == WTN && NT % 2 == 0, "warp tiling");
    static_assert(BK % 32 == 0 && BK % KW == 0 && KW % 16 == 0, "K tile");
    constexpr int LDA = BK + GP_PAD;                        // halves per shared A row
    constexpr int LDW = QUANT ? KS + GP_PAD : BK + GP_PAD;  // halves per shared weight row read by ldmatrix

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN_WARPS, wn = warp % WN_WARPS;
#if defined(GE_MUTANT_GG_DROP_LAST_K)
    const int KT = K / BK - 1;
#else
    const int KT = K / BK;
#endif

    float acc[MT][NT][4];
    float part[GROUPED ? MT : 1][GROUPED ? NT : 1][4];
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;
#pragma unroll
    for (int i = 0; i < (GROUPED ? MT : 1); ++i)
#pragma unroll
        for (int j = 0; j < (GROUPED ? NT : 1); ++j)
#pragma unroll
            for (int q = 0; q < 4; ++q) part[i][j][q] = 0.0f;

#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < KT) gp_load_stage<WMODE, BM, BN, BK, KS, STAGES, NTHREADS, SWIGLU, WTN>(smem, s, s, A, row_begin, row_end, w, N, K, col0);
        ptx_cp_async_commit();
    }

    unsigned short* wd = reinterpret_cast<unsigned short*>(smem + STAGES * (L::a_stage + L::w_stage));
    int slot = 0;
    for (int kt = 0; kt < KT; ++kt) {
        // Tile kt has landed (at most STAGES - 2 later groups pending), and every thread is past the
        // math of kt - 1, so its slot (and the decoded tile) may be refilled.
        ptx_cp_async_wait<STAGES - 2>();
        __syncthreads();
        {
            const int nk = kt + STAGES - 1;
            int ns = slot + STAGES - 1;
            if (ns >= STAGES) ns -= STAGES;
            if (nk < KT) gp_load_stage<WMODE, BM, BN, BK, KS, STAGES, NTHREADS, SWIGLU, WTN>(smem, ns, nk, A, row_begin, row_end, w, N, K, col0);
            ptx_cp_async_commit();
        }
        const unsigned short* as = reinterpret_cast<const unsigned short*>(smem + slot * L::a_stage) + wm * WTM * LDA;
        if (!QUANT) {
            const unsigned short* ws = reinterpret_cast<const unsigned short*>(smem + STAGES * L::a_stage + slot * L::w_stage) + wn * WTN * LDW;
            gp_mma_slice<T, MT, NT, KW, LDA, LDW>(acc, as, ws, lane);
        } else {
            const unsigned char* raw = smem + STAGES * L::a_stage + slot * L::w_stage;
#pragma unroll 1
            for (int ks = 0; ks < BK; ks += KS) {
                if (ks > 0) __syncthreads();   // the previous slice's readers are done with wd
                // Decode KS columns of the raw tile once for the whole block: 8 codes -> one 16-byte chunk.
                constexpr int CPR = KS / 8;
#pragma unroll 4
                for (int c = tid; c < BN * CPR; c += NTHREADS) {
                    const int r = c / CPR, kc = c % CPR;
                    unsigned lo, hi = 0u;
                    if (WMODE == GG_INT8) {
                        const uint2 v = *reinterpret_cast<const uint2*>(raw + r * L::w_row + ks + kc * 8);
                        lo = v.x; hi = v.y;
                    } else {
                        lo = *reinterpret_cast<const unsigned*>(raw + r * L::w_row + (ks >> 1) + kc * 4);
                    }
                    *reinterpret_cast<uint4*>(wd + r * LDW + kc * 8) = ge_decode_fast8<T, WMODE>(lo, hi);
                }
#if !defined(GE_MUTANT_GG_RACY_DECODE)
                __syncthreads();
#endif
                if constexpr (GROUPED != 0) {
                    gp_mma_slice<T, MT, NT, KW, LDA, LDW>(part, as + ks, wd + wn * WTN * LDW, lane);
                    const int kend = kt * BK + ks + KS;
                    if (kend % group_size == 0) {
#if defined(GE_MUTANT_GG_SCALE_INDEX)
                        const int grp = min(kend / group_size, groups - 1);
#else
                        const int grp = kend / group_size - 1;
#endif
#pragma unroll
                        for (int j = 0; j < NT; ++j) {
                            const int n0 = ge_tile_weight_row<SWIGLU, WTN>(wn * WTN + j * 8 + 2 * (lane & 3), col0, N);
                            const int n1 = ge_tile_weight_row<SWIGLU, WTN>(wn * WTN + j * 8 + 2 * (lane & 3) + 1, col0, N);
                            const float s0 = n0 >= 0 ? scales[(long long)n0 * groups + grp] : 0.0f;
                            const float s1 = n1 >= 0 ? scales[(long long)n1 * groups + grp] : 0.0f;
#pragma unroll
                            for (int i = 0; i < MT; ++i) {
                                float* p = part[GROUPED ? i : 0][GROUPED ? j : 0];
                                acc[i][j][0] = __fmaf_rn(p[0], s0, acc[i][j][0]);
                                acc[i][j][1] = __fmaf_rn(p[1], s1, acc[i][j][1]);
                                acc[i][j][2] = __fmaf_rn(p[2], s0, acc[i][j][2]);
                                acc[i][j][3] = __fmaf_rn(p[3], s1, acc[i][j][3]);
                                p[0] = 0.0f; p[1] = 0.0f; p[2] = 0.0f; p[3] = 0.0f;
                            }
                        }
                    }
                } else {
                    gp_mma_slice<T, MT, NT, KW, LDA, LDW>(acc, as + ks, wd + wn * WTN * LDW, lane);
                }
            }
        }
#if defined(GE_MUTANT_GG_FP16_ACCUMULATOR)
        // The accumulator held in fp16 between K tiles.
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int q = 0; q < 4; ++q) acc[i][j][q] = __half2float(__float2half_rn(acc[i][j][q]));
#endif
        if (++slot == STAGES) slot = 0;
    }

    // Epilogue: fragment rows g and g + 8, columns 2c and 2c + 1 of each n8 tile (SWIGLU: of the gate tiles j < NT / 2,
    // paired with up tile j + NT / 2). Per-channel scales multiply the fp32 sum once here (the same single rounding as a
    // fold at the end of K).
    const int g = lane >> 2, c2 = 2 * (lane & 3);
    constexpr int JC = SWIGLU ? NT / 2 : NT;
    const int ldc = SWIGLU ? N >> 1 : N;   // columns of C
    // The per-channel scale of tile column lc (0 past the end, 1 where there is none or the groups were folded).
    auto channel_scale = [&](int lc) {
        if (!QUANT || GROUPED) return 1.0f;
        const int wr = ge_tile_weight_row<SWIGLU, WTN>(lc, col0, N);
        return wr >= 0 ? scales[(long long)wr * groups] : 0.0f;
    };
#pragma unroll
    for (int j = 0; j < JC; ++j) {
        const int lc = wn * WTN + j * 8 + c2;   // tile column of the plain (or gate) sum
        const int n = col0 + wn * (SWIGLU ? WTN / 2 : WTN) + j * 8 + c2;
        float s0 = channel_scale(lc), s1 = channel_scale(lc + 1);
        const float u0 = SWIGLU ? channel_scale(lc + WTN / 2) : 1.0f, u1 = SWIGLU ? channel_scale(lc + WTN / 2 + 1) : 1.0f;
#if defined(GE_MUTANT_GG_SCALE_INDEX)
        if (QUANT && !GROUPED && n + 1 < ldc) s0 = s1;
#endif
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int row = row_begin + wm * WTM + i * 16 + g + 8 * h;
#if defined(GE_MUTANT_GG_LAST_COLUMN)
                if (row >= row_end || n >= ldc - 1) continue;
#else
                if (row >= row_end || n >= ldc) continue;
#endif
                float v0 = acc[i][j][2 * h], v1 = acc[i][j][2 * h + 1];
                if (QUANT && !GROUPED) { v0 = __fmaf_rn(v0, s0, 0.0f); v1 = __fmaf_rn(v1, s1, 0.0f); }
                if (SWIGLU) {
                    float w0 = acc[i][j + JC][2 * h], w1 = acc[i][j + JC][2 * h + 1];
                    if (QUANT && !GROUPED) { w0 = __fmaf_rn(w0, u0, 0.0f); w1 = __fmaf_rn(w1, u1, 0.0f); }
                    v0 = ge_swiglu_of_sums<T>(v0, w0);
                    v1 = ge_swiglu_of_sums<T>(v1, w1);
                }
                unsigned short* out = C + (long long)row * ldc + n;
                if (n + 1 < ldc && (ldc & 1) == 0) {
                    *reinterpret_cast<unsigned*>(out) = ge_pack2(ge_bits_from_float<T>(v0), ge_bits_from_float<T>(v1));
                } else {
                    out[0] = ge_bits_from_float<T>(v0);
                    if (n + 1 < ldc) out[1] = ge_bits_from_float<T>(v1);
                }
            }
    }
}
