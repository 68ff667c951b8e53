// Tile plumbing shared by the low-precision GEMMs (block_fp8_gemm.cu, w4afp8_group_gemm.cu, nvfp4.cu):
// cp.async staging, the 128-byte-row swizzle, 32-bit shared loads, the fp8 MMA, and the walk from a
// linear M-tile index to (expert, rows) for both group-GEMM token layouts.
#pragma once
#include "common.cuh"

GE_DEVICE unsigned lp_smem(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// 16-byte async copy; when pred is false nothing is read and the destination is zero-filled.
GE_DEVICE void lp_cp_async16(void* dst, const void* src, bool pred) {
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(lp_smem(dst)), "l"(src), "r"(n));
}
GE_DEVICE void lp_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
GE_DEVICE void lp_cp_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }
GE_DEVICE void lp_cp_wait_one() { asm volatile("cp.async.wait_group 1;\n" ::); }
template <int N> GE_DEVICE void lp_cp_wait_n() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// fp8 e4m3 x e4m3 -> f32, m16n8k32 (sm_89+).
GE_DEVICE void lp_mma_e4m3(float* d, const unsigned* a, const unsigned* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Rows of 128 bytes, 16-byte chunks XOR-swizzled by (row & 7): the 8 rows a fragment load touches
// land in 8 different chunks, so the 32 lanes hit 32 different banks.
GE_DEVICE int lp_swz128(int row, int chunk) { return row * 128 + ((chunk ^ (row & 7)) << 4); }

GE_DEVICE unsigned lp_lds32(const unsigned char* base, int offset) {
    return *reinterpret_cast<const unsigned*>(base + offset);
}

// Maps a linear M-tile index (tiles of BM rows) to (expert, first row, end row); false when past the
// last real tile. PREFIX: offsets are [E + 1] prefix sums; else [E] counts of slabs of rows_bound rows.
// Counts and offsets are clamped to [0, rows_bound] so garbage can never address outside the buffers.
template <int PREFIX, int BM>
GE_DEVICE bool lp_find_tile(const int* offsets, int experts, int rows_bound, int tile, int& expert, int& row0, int& row_end) {
    for (int e = 0; e < experts; e++) {
        int start, end;
        if (PREFIX) {
            start = min(max(offsets[e], 0), rows_bound);
            end = min(max(offsets[e + 1], start), rows_bound);
        } else {
            start = e * rows_bound;
            end = start + min(max(offsets[e], 0), rows_bound);
        }
        int tiles = (end - start + BM - 1) / BM;
        if (tile < tiles) {
            expert = e;
            row0 = start + tile * BM;
            row_end = end;
            return true;
        }
        tile -= tiles;
    }
    return false;
}
