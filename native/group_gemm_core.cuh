// The tile body shared by the group GEMMs (group_gemm.cu: tile schedule from the device offsets;
// wi4a16_group_gemm.cu: tile list planned on the host). One block of 128 threads computes a
// BM x 64 tile of C for one expert with mma.sync m16n8k16 (fp32 accumulate). Weights are decoded
// to the activation type in the load path: integer codes convert exactly, and scales are applied
// to fp32 partial sums (per channel at the end, per group at each group's end), so a quantized
// product is exact up to fp32 accumulation.
#pragma once
#include "common.cuh"

#define GG_BN 64
#define GG_BK 64
#define GG_THREADS 128
#define GG_LDS (GG_BK + 8)   // shared row stride in halves: 144 bytes keeps 16-byte stores aligned and spreads banks

// Weight storage modes (template argument WMODE).
#define GG_HALF 0      // [N, K] activation type
#define GG_INT8 1      // [N, K] int8, scale per (n, group)
#define GG_INT4 2      // [N, K/2] signed int4 nibbles, scale per (n, group)
#define GG_INT4_ZP 3   // [N, K/2] unsigned int4 nibbles, (q - zero) * scale per (n, group)

template <typename T> GE_DEVICE unsigned short ge_bits_from_float(float v);
template <> GE_DEVICE unsigned short ge_bits_from_float<__nv_bfloat16>(float v) { return __bfloat16_as_ushort(__float2bfloat16_rn(v)); }
template <> GE_DEVICE unsigned short ge_bits_from_float<__half>(float v) { return __half_as_ushort(__float2half_rn(v)); }

template <typename T> GE_DEVICE void ge_mma16816(float* d, const unsigned* a, const unsigned* b);
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

GE_DEVICE unsigned ge_pack2(unsigned short lo, unsigned short hi) { return (unsigned)lo | ((unsigned)hi << 16); }

// Eight consecutive K elements of weight row n, decoded to activation bits. `zero` is used by GG_INT4_ZP.
template <typename T, int WMODE>
GE_DEVICE uint4 ge_load_w8(const void* w, int n, int k, int K, bool vec, float zero) {
    unsigned short h[8];
    if (WMODE == GG_HALF) {
        const unsigned short* src = reinterpret_cast<const unsigned short*>(w) + (long long)n * K + k;
        if (vec && k + 8 <= K) return *reinterpret_cast<const uint4*>(src);
#pragma unroll
        for (int j = 0; j < 8; ++j) h[j] = (k + j < K) ? src[j] : (unsigned short)0;
    } else if (WMODE == GG_INT8) {
        const signed char* src = reinterpret_cast<const signed char*>(w) + (long long)n * K + k;
        if (vec && k + 8 <= K) {
            uint2 v = *reinterpret_cast<const uint2*>(src);
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                int q = (int)(signed char)(((j < 4 ? v.x : v.y) >> (8 * (j & 3))) & 0xff);
                h[j] = ge_bits_from_float<T>((float)q);
            }
        } else {
#pragma unroll
            for (int j = 0; j < 8; ++j) h[j] = (k + j < K) ? ge_bits_from_float<T>((float)src[j]) : (unsigned short)0;
        }
    } else {
        // Packed nibbles, low nibble = even k. Rows start on a byte since K is even.
        const unsigned char* row = reinterpret_cast<const unsigned char*>(w) + (long long)n * (K >> 1);
        unsigned word = 0;
        if (vec && k + 8 <= K) {
            word = *reinterpret_cast<const unsigned*>(row + (k >> 1));
        } else {
#pragma unroll
            for (int j = 0; j < 8; j += 2)
                if (k + j < K) word |= (unsigned)row[(k + j) >> 1] << (4 * j);
        }
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            int q = (int)((word >> (4 * j)) & 15u);
            float v;
            if (WMODE == GG_INT4) v = (float)(q >= 8 ? q - 16 : q);
            else v = (float)q - zero;
            h[j] = (k + j < K) ? ge_bits_from_float<T>(v) : (unsigned short)0;
        }
    }
    uint4 r;
    r.x = ge_pack2(h[0], h[1]);
    r.y = ge_pack2(h[2], h[3]);
    r.z = ge_pack2(h[4], h[5]);
    r.w = ge_pack2(h[6], h[7]);
    return r;
}

// One BM x 64 tile: rows [row_begin, row_end) of A and C (absolute rows), columns [n0, n0 + 64).
// w/scales/zeros point at this expert's slice. group_size: K-elements per scale (a multiple of GG_BK,
// or >= K for per-channel), groups: scales per output row.
template <typename T, int WMODE, int BM>
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
    static_assert(WM * WN == 4, "4 warps per block");
    __shared__ __align__(16) unsigned short As[BM][GG_LDS];
    __shared__ __align__(16) unsigned short Ws[GG_BN][GG_LDS];

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

    for (int k0 = 0; k0 < K; k0 += GG_BK) {
        // A tile: BM rows x 64 k, 8 halves per chunk.
#pragma unroll
        for (int i = 0; i < BM * 8 / GG_THREADS; ++i) {
            const int chunk = tid + i * GG_THREADS;
            const int r = chunk >> 3, kc = (chunk & 7) * 8;
            const int row = row_begin + r, k = k0 + kc;
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
            *reinterpret_cast<uint4*>(&As[r][kc]) = v;
        }
        // W tile: 64 rows (n) x 64 k.
        const int grp = k0 / group_size;
#pragma unroll
        for (int i = 0; i < GG_BN * 8 / GG_THREADS; ++i) {
            const int chunk = tid + i * GG_THREADS;
            const int r = chunk >> 3, kc = (chunk & 7) * 8;
            const int n = n0 + r;
            uint4 v = make_uint4(0u, 0u, 0u, 0u);
            if (n < N) {
                const float zero = (WMODE == GG_INT4_ZP) ? zeros[(long long)n * groups + grp] : 0.0f;
                v = ge_load_w8<T, WMODE>(w, n, k0 + kc, K, vec, zero);
            }
            *reinterpret_cast<uint4*>(&Ws[r][kc]) = v;
        }
        __syncthreads();

#pragma unroll
        for (int kk = 0; kk < GG_BK; kk += 16) {
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
        const bool group_end = ((k0 + GG_BK) % group_size) == 0 || k0 + GG_BK >= K;
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
