// Tile plumbing shared by the low-precision GEMMs (block_fp8_gemm.cu, w4afp8_group_gemm.cu,
// nvfp4_group_gemm.cu): the 128-byte-row swizzle, 32-bit shared loads, and the walk from a linear
// M-tile index to (expert, rows) for both group-GEMM token layouts. The PTX (cp.async, mma) is ptx.cuh's.
#pragma once
#include "ptx.cuh"

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
#if defined(GE_MUTANT_LP_LAST_ROW)
            row_end = end - 1;
#else
            row_end = end;
#endif
            return true;
        }
        tile -= tiles;
    }
    return false;
}
