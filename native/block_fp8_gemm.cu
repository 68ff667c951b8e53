// block_wise_fp8 GEMM: C[m, n] = sum_kb (A_q[m, kb] . W_q[n, kb]) * a_scale[m, kb] * w_scale[n / 128, kb]
// with fp8 e4m3 tensor-core MMA (mma.sync m16n8k32, sm_89+). DeepGEMM's scheme: the MMA accumulates
// one 128-wide K block into a fresh fp32 partial, which is then scaled and added to the fp32 total,
// so the two scales are applied exactly once per K block in fp32.
// Tile 64 x 128 x 128, 8 warps (2 along M x 4 along N, 32 x 32 each), cp.async double buffering.
// K and N are padded to 128 at quantization time (zeros), so loads need no K or N bounds; rows past
// the valid token count are zero-filled and never written.
#include "common.cuh"
#include <cuda_fp8.h>

#define BF_BM 64
#define BF_BN 128
#define BF_BK 128
#define BF_THREADS 256

GE_DEVICE unsigned ge_smem(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// 16-byte async copy; when pred is false nothing is read and the destination is zero-filled.
GE_DEVICE void ge_cp_async16(void* dst, const void* src, bool pred) {
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(ge_smem(dst)), "l"(src), "r"(n));
}
GE_DEVICE void ge_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
GE_DEVICE void ge_cp_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }
GE_DEVICE void ge_cp_wait_one() { asm volatile("cp.async.wait_group 1;\n" ::); }

GE_DEVICE void ge_mma_e4m3(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Rows of 128 bytes, 16-byte chunks XOR-swizzled by (row & 7): the 8 rows a fragment load touches
// land in 8 different chunks, so the 32 lanes hit 32 different banks.
GE_DEVICE int ge_swz128(int row, int chunk) { return row * 128 + ((chunk ^ (row & 7)) << 4); }

GE_DEVICE unsigned ge_lds32(const unsigned char* base, int offset) {
    return *reinterpret_cast<const unsigned*>(base + offset);
}

template <typename T>
__global__ void __launch_bounds__(BF_THREADS) block_fp8_gemm(
    const unsigned char* __restrict__ a,      // [rows, kp] e4m3
    const float* __restrict__ a_scale,        // [rows, kp / 128]
    const unsigned char* __restrict__ w,      // [np, kp] e4m3
    const float* __restrict__ w_scale,        // [np / 128, kp / 128]
    T* __restrict__ c,                        // [rows, n]
    int rows, int n, int kp, const int* n_tokens) {
    __shared__ __align__(128) unsigned char s_a[2][BF_BM * BF_BK];
    __shared__ __align__(128) unsigned char s_w[2][BF_BN * BF_BK];

    const int valid = ge_valid_rows(n_tokens, rows);
    const int m0 = blockIdx.y * BF_BM, n0 = blockIdx.x * BF_BN;
    if (m0 >= valid) return;
    const int kblocks = kp / BF_BK;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3, g = lane >> 2, t = lane & 3;

    auto load = [&](int kb, int buf) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int idx = tid + i * BF_THREADS, r = idx >> 3, ch = idx & 7;
            bool ok = m0 + r < valid;
            const unsigned char* src = ok ? a + (long long)(m0 + r) * kp + kb * BF_BK + ch * 16 : a;
            ge_cp_async16(&s_a[buf][ge_swz128(r, ch)], src, ok);
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int idx = tid + i * BF_THREADS, r = idx >> 3, ch = idx & 7;
            ge_cp_async16(&s_w[buf][ge_swz128(r, ch)], w + (long long)(n0 + r) * kp + kb * BF_BK + ch * 16, true);
        }
        ge_cp_commit();
    };

    float acc[2][4][4], part[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = part[i][j][r] = 0.0f;

    load(0, 0);
    for (int kb = 0; kb < kblocks; kb++) {
        int buf = kb & 1;
        if (kb + 1 < kblocks) { load(kb + 1, buf ^ 1); ge_cp_wait_one(); }
        else ge_cp_wait_all();
        __syncthreads();
        const unsigned char* sa = s_a[buf];
        const unsigned char* sw = s_w[buf];
#pragma unroll
        for (int ks = 0; ks < BF_BK / 32; ks++) {
            unsigned af[2][4], bfr[4][2];
#pragma unroll
            for (int mt = 0; mt < 2; mt++) {
                int r = wm * 32 + mt * 16 + g;
                af[mt][0] = ge_lds32(sa, ge_swz128(r, ks * 2) + 4 * t);
                af[mt][1] = ge_lds32(sa, ge_swz128(r + 8, ks * 2) + 4 * t);
                af[mt][2] = ge_lds32(sa, ge_swz128(r, ks * 2 + 1) + 4 * t);
                af[mt][3] = ge_lds32(sa, ge_swz128(r + 8, ks * 2 + 1) + 4 * t);
            }
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = wn * 32 + nt * 8 + g;
                bfr[nt][0] = ge_lds32(sw, ge_swz128(col, ks * 2) + 4 * t);
                bfr[nt][1] = ge_lds32(sw, ge_swz128(col, ks * 2 + 1) + 4 * t);
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++) ge_mma_e4m3(part[mt][nt], af[mt], bfr[nt]);
        }
        // One weight scale covers the whole 128-wide N tile; activation scales are per row.
        float ws = w_scale[(n0 / BF_BN) * kblocks + kb];
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
            int r0 = m0 + wm * 32 + mt * 16 + g, r1 = r0 + 8;
            float s0 = r0 < valid ? __fmul_rn(a_scale[(long long)r0 * kblocks + kb], ws) : 0.0f;
            float s1 = r1 < valid ? __fmul_rn(a_scale[(long long)r1 * kblocks + kb], ws) : 0.0f;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                acc[mt][nt][0] += part[mt][nt][0] * s0;
                acc[mt][nt][1] += part[mt][nt][1] * s0;
                acc[mt][nt][2] += part[mt][nt][2] * s1;
                acc[mt][nt][3] += part[mt][nt][3] * s1;
                part[mt][nt][0] = part[mt][nt][1] = part[mt][nt][2] = part[mt][nt][3] = 0.0f;
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int r = m0 + wm * 32 + mt * 16 + g + half * 8;
            if (r >= valid) continue;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                int col = n0 + wn * 32 + nt * 8 + 2 * t;
                T* dst = c + (long long)r * n;
                if (col < n) dst[col] = ge_from_float<T>(acc[mt][nt][half * 2]);
                if (col + 1 < n) dst[col + 1] = ge_from_float<T>(acc[mt][nt][half * 2 + 1]);
            }
        }
}
