// The tile body shared by the group GEMMs (group_gemm.cu: tile schedule from the device offsets;
// wi4a16_group_gemm.cu: tile list planned on the host). One block of 128 threads computes a
// BM x 64 tile of C for one expert with mma.sync m16n8k16 (fp32 accumulate). Weights are decoded
// to the activation type in the load path: integer codes convert exactly, and scales are applied
// to fp32 partial sums (per channel at the end, per group at each group's end), so a quantized
// product is exact up to fp32 accumulation.
#pragma once
#include "common.cuh"

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

template <typename T> GE_DEVICE void ge_mma16816(float* d, const unsigned* a, const unsigned* b);
#ifdef GE_EMULATED_MMA
// Host emulation of the kernels (tests/Moe/native-emu) supplies the warp-wide product.
template <> GE_DEVICE void ge_mma16816<__nv_bfloat16>(float* d, const unsigned* a, const unsigned* b) { ge_emulated_mma(d, a, b, true); }
template <> GE_DEVICE void ge_mma16816<__half>(float* d, const unsigned* a, const unsigned* b) { ge_emulated_mma(d, a, b, false); }
#else
template <> GE_DEVICE void ge_mma16816<__nv_bfloat16>(float* d, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <> GE_DEVICE void ge_mma16816<__half>(float* d, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

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
template <int WMODE, int BM, int BK>
GE_DEVICE void ge_load_tile(const unsigned short* __restrict__ A, int row_begin, int row_end,
                            const void* __restrict__ w, const float* __restrict__ zeros,
                            int N, int K, int group_size, int groups, int n0, int k0, bool vec,
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
        const int n = n0 + chunk / CPR, k = k0 + (chunk % CPR) * 8;
        rw[i] = make_uint4(0u, 0u, 0u, 0u);
        rz[i] = 0.0f;
        if (n < N) {
            rw[i] = ge_load_w_raw<WMODE>(w, n, k, K, vec);
            if (WMODE == GG_INT4_ZP) rz[i] = zeros[(long long)n * groups + grp];
        }
    }
}

// One BM x 64 tile: rows [row_begin, row_end) of A and C (absolute rows), columns [n0, n0 + 64).
// w/scales/zeros point at this expert's slice. group_size: K-elements per scale (a multiple of BK,
// or >= K for per-channel), groups: scales per output row.
template <typename T, int WMODE, int BM, int BK>
GE_DEVICE void ge_group_tile(const unsigned short* __restrict__ A, // [rows, K] activation bits
                             int row_begin, int row_end,
                             const void* __restrict__ w,            // this expert's [N, K] weights
                             const float* __restrict__ scales,      // this expert's [N, groups] or null
                             const float* __restrict__ zeros,       // this expert's [N, groups] (GG_INT4_ZP)
                             unsigned short* __restrict__ C,        // [rows, N] output bits
                             int N, int K, int group_size, int groups, int n0) {
    constexpr int WM = BM / 16;            // warps along M
    constexpr int WN = 4 / WM;             // warps along N
    constexpr int NT = GG_BN / WN / 8;     // n8 tiles per warp
    constexpr int CPR = BK / 8;            // 16-byte chunks per tile row
    constexpr int A_CHUNKS = BM * CPR / GG_THREADS;
    constexpr int W_CHUNKS = GG_BN * CPR / GG_THREADS;
    static_assert(WM * WN == 4, "4 warps per block");
    static_assert(BK % 16 == 0 && A_CHUNKS * GG_THREADS == BM * CPR && W_CHUNKS * GG_THREADS == GG_BN * CPR, "tile split");
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

    ge_load_tile<WMODE, BM, BK>(A, row_begin, row_end, w, zeros, N, K, group_size, groups, n0, 0, vec, ra, rw, rz);
    for (int k0 = 0; k0 < K; k0 += BK) {
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
        if (k0 + BK < K) ge_load_tile<WMODE, BM, BK>(A, row_begin, row_end, w, zeros, N, K, group_size, groups, n0, k0 + BK, vec, ra, rw, rz);
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
                ge_mma16816<T>(part[j], a, b);
            }
        }
        __syncthreads();

        // Fold the partial sums at the end of each scale group (per channel: only at the end of K).
        if (WMODE == GG_HALF) continue;
        const bool group_end = ((k0 + BK) % group_size) == 0 || k0 + BK >= K;
        if (group_end) {
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                const int n = n0 + wn * (GG_BN / WN) + j * 8 + 2 * c;
                const float s0 = n < N ? scales[(long long)n * groups + grp] : 0.0f;
                const float s1 = n + 1 < N ? scales[(long long)(n + 1) * groups + grp] : 0.0f;
                acc[j][0] = __fmaf_rn(part[j][0], s0, acc[j][0]);
                acc[j][1] = __fmaf_rn(part[j][1], s1, acc[j][1]);
                acc[j][2] = __fmaf_rn(part[j][2], s0, acc[j][2]);
                acc[j][3] = __fmaf_rn(part[j][3], s1, acc[j][3]);
#pragma unroll
                for (int i = 0; i < 4; ++i) part[j][i] = 0.0f;
            }
        }
    }

    // Epilogue: C fragment rows g and g + 8, columns 2c and 2c + 1 of each n8 tile.
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const int n = n0 + wn * (GG_BN / WN) + j * 8 + 2 * c;
        const float* v = (WMODE == GG_HALF) ? part[j] : acc[j];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int row = row_begin + wm * 16 + g + 8 * h;
            if (row >= row_end) continue;
            unsigned short* out = C + (long long)row * N;
            if (n < N) out[n] = ge_bits_from_float<T>(v[2 * h]);
            if (n + 1 < N) out[n + 1] = ge_bits_from_float<T>(v[2 * h + 1]);
        }
    }
}
