// Capturable MoE group GEMM (bf16/fp16, wint8, wint4 per-channel or grouped) in both token layouts,
// and the device-side weight quantizer. Tile schedule on the device: blockIdx.y is a global M-tile
// index that each block maps to (expert, tile) by walking the per-expert tile counts derived from
// the offsets; indexes past the last real tile exit at once. The grid therefore depends only on
// host bounds, experts without rows are never touched, and a hit expert's weight columns are read
// once per M tile (once in total when its rows fit one tile, the common case at small n).
// SWIGLU = 1: C = silu(gate) * up, [rows, N / 2] (swiglu_epilogue.cuh); blockIdx.x is then a block of N / 2 columns.
#include "moe/group_gemm_core.cuh"

template <int WMODE> struct gg_bytes;   // weight bytes per element x2 (int4 packs two per byte)
template <> struct gg_bytes<GG_HALF> { static constexpr int x2 = 4; };
template <> struct gg_bytes<GG_INT8> { static constexpr int x2 = 2; };
template <> struct gg_bytes<GG_INT4> { static constexpr int x2 = 1; };

// Maps global M tile `tile` to (expert, first row, row count) by walking the per-expert tile counts.
// padded_slots = 0: prefix-sum layout, offsets [E + 1]; > 0: padded layout [E, P, *], offsets = counts [E].
// Returns false past the last real tile (the block exits at once).
template <int BM>
GE_DEVICE bool gg_find_tile(const int* __restrict__ offsets, int experts, int padded_slots, int tile,
                            int& e, int& begin, int& count, int& m0) {
    for (int i = 0; i < experts; ++i) {
        int b, cnt;
        if (padded_slots > 0) { b = i * padded_slots; cnt = min(max(offsets[i], 0), padded_slots); }
        else { b = offsets[i]; cnt = max(offsets[i + 1] - b, 0); }
#if defined(GE_MUTANT_GG_LAST_ROW)
        cnt = max(cnt - 1, 0);
#endif
        const int tiles = (cnt + BM - 1) / BM;
        if (tile < tiles) { e = i; begin = b; count = cnt; m0 = tile * BM; return true; }
        tile -= tiles;
    }
    return false;
}

template <typename T, int WMODE, int BM, int BK, int SWIGLU = 0>
__global__ void __launch_bounds__(GG_THREADS) group_gemm(
    const unsigned short* __restrict__ A, // [rows, K] or [E, P, K] activation bits
    const void* __restrict__ W,           // [E, N, K] in WMODE's storage
    const float* __restrict__ scales,     // [E, N, groups] or null (GG_HALF)
    const int* __restrict__ offsets,      // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,       // [rows, N] or [E, P, N]; SWIGLU: [rows, N / 2] or [E, P, N / 2]
    int experts, int N, int K, int group_size, int groups, int padded_slots) {
    int e, begin, count, m0;
    if (!gg_find_tile<BM>(offsets, experts, padded_slots, blockIdx.y, e, begin, count, m0)) return;
    const long long wbytes = (long long)N * K * gg_bytes<WMODE>::x2 / 2;
    const char* we = reinterpret_cast<const char*>(W) + (long long)e * wbytes;
    const float* se = scales ? scales + (long long)e * N * groups : nullptr;
    ge_group_tile<T, WMODE, BM, BK, SWIGLU>(A, begin + m0, begin + min(m0 + BM, count), we, se, nullptr, C,
                                            N, K, group_size, groups, blockIdx.x * (SWIGLU ? GG_BN / 2 : GG_BN));
}

// The pipelined variant (group_gemm_core.cuh, ge_pipe_tile): 32 * WM * WN threads, BM x BN tiles,
// dynamic shared memory of gp_smem<...>::bytes. Same schedule and arguments as group_gemm. MINB is
// the blocks per SM the register allocation must allow.
template <typename T, int WMODE, int GROUPED, int BM, int BN, int BK, int KS, int STAGES, int WM, int WN, int MINB, int SWIGLU = 0>
__global__ void __launch_bounds__(32 * WM * WN, MINB) group_gemm_pipe(
    const unsigned short* __restrict__ A, // [rows, K] or [E, P, K] activation bits
    const void* __restrict__ W,           // [E, N, K] in WMODE's storage
    const float* __restrict__ scales,     // [E, N, groups] or null (GG_HALF)
    const int* __restrict__ offsets,      // [E + 1] prefix sums or [E] counts
    unsigned short* __restrict__ C,       // [rows, N] or [E, P, N]; SWIGLU: [rows, N / 2] or [E, P, N / 2]
    int experts, int N, int K, int group_size, int groups, int padded_slots) {
#ifdef GE_EMULATED_MMA
    unsigned char* smem = ge_emulated_dynamic_smem();
#else
    extern __shared__ __align__(128) unsigned char gg_dyn_smem[];
    unsigned char* smem = gg_dyn_smem;
#endif
    int e, begin, count, m0;
    if (!gg_find_tile<BM>(offsets, experts, padded_slots, blockIdx.y, e, begin, count, m0)) return;
    const long long wbytes = (long long)N * K * gg_bytes<WMODE>::x2 / 2;
    const unsigned char* we = reinterpret_cast<const unsigned char*>(W) + (long long)e * wbytes;
    const float* se = scales ? scales + (long long)e * N * groups : nullptr;
    ge_pipe_tile<T, WMODE, GROUPED, BM, BN, BK, KS, STAGES, WM, WN, SWIGLU>(smem, A, begin + m0, begin + min(m0 + BM, count), we, se, C,
                                                                           N, K, group_size, groups, blockIdx.x * (SWIGLU ? BN / 2 : BN));
}

// One warp per (row, group) segment of the [E * N, K] source: scale = max|w| / qmax, q = rint(w / scale)
// clamped to +-qmax; the same arithmetic as ExpertWeightMath.QuantizeSegment, so bytes match the host.
// int8 stores q; int4 stores (q + zero_point) & 15 packed two per byte (low nibble = even k), and
// zeros (if given) receive zero_point. Int4 segments are even (K and the group size are), so a lane owns whole bytes.
template <typename T>
__global__ void quantize_experts(const T* __restrict__ w,   // [rows, K]
                                 void* __restrict__ q,       // int8 [rows, K] or packed int4 [rows, K/2]
                                 float* __restrict__ scales, // [rows, groups]
                                 float* __restrict__ zeros,  // [rows, groups] or null
                                 long long rows, int K, int group_size, int groups, int qmax, int int8, int zero_point) {
    const long long seg = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (seg >= rows * groups) return;
    const long long row = seg / groups;
    const int grp = (int)(seg % groups);
    const int k_begin = grp * group_size, k_end = min(K, k_begin + group_size);
    const T* src = w + row * K;
    float mx = 0.0f;
    for (int k = k_begin + lane; k < k_end; k += 32) mx = fmaxf(mx, fabsf(ge_to_float(src[k])));
    mx = ge_warp_max(mx);
#if defined(GE_MUTANT_GG_QUANT_SCALE)
    const float s = __fdiv_rn(mx, (float)(qmax - 1));
#else
    const float s = __fdiv_rn(mx, (float)qmax);
#endif
    if (lane == 0) {
        scales[seg] = s;
        if (zeros) zeros[seg] = (float)zero_point;
    }
    for (int k = k_begin + 2 * lane; k < k_end; k += 64) {
        int qv[2];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            float r = (s > 0.0f && k + j < k_end) ? rintf(__fdiv_rn(ge_to_float(src[k + j]), s)) : 0.0f;
            qv[j] = (int)fminf(fmaxf(r, (float)-qmax), (float)qmax);
        }
        if (int8) {
            signed char* d = reinterpret_cast<signed char*>(q) + row * K + k;
            d[0] = (signed char)qv[0];
            if (k + 1 < k_end) d[1] = (signed char)qv[1];   // int8 rows may have odd length
        } else {
            unsigned char* d = reinterpret_cast<unsigned char*>(q) + (row * K + k) / 2;
            *d = (unsigned char)(((qv[0] + zero_point) & 15) | (((qv[1] + zero_point) & 15) << 4));
        }
    }
}
