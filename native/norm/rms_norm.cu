// RMSNorm, plain and with the residual add fused in front (FastDeploy's / vLLM's fused_add_rms_norm):
//   plain:    out = x * rsqrt(mean(x^2) + eps) * w
//   residual: z = x + r (rounded to T, written back to r); out = z * rsqrt(mean(z^2) + eps) * w
// One block per row; each thread keeps ITEMS vectors of VEC elements in registers, so global memory
// is read once and written once (the residual variant reads x and r and writes r and out). fp32
// accumulation. VEC is the widest vector the hidden size allows (8 -> 16-byte loads); rows at or past
// the device token count are skipped. Rows too long for registers (more than 8 vectors per thread at 1024
// threads) take rms_norm_long, which reads the row twice instead.
#include "common.cuh"

template <int BYTES> struct RnVec;
template <> struct RnVec<16> { typedef uint4 type; };
template <> struct RnVec<8> { typedef uint2 type; };
template <> struct RnVec<4> { typedef unsigned int type; };
template <> struct RnVec<2> { typedef unsigned short type; };

GE_DEVICE float rn_block_sum(float v, float* scratch) {
    v = ge_warp_sum(v);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)((blockDim.x + 31) >> 5) ? scratch[lane] : 0.0f;
        s = ge_warp_sum(s);
        if (lane == 0) scratch[0] = s;
    }
#if !defined(GE_MUTANT_RMSNORM_RACY_SUM)
    __syncthreads();
#endif
    return scratch[0];
}

// EARLY_W: the weight is loaded with the row (a launch of a few rows waits one memory round trip
// instead of two); without it the weight is loaded after the block sum (an L2 hit once one block has
// touched it), which keeps fewer registers live, so more rows per SM are in flight at large counts.
template <typename T, int VEC, int ITEMS, bool RESIDUAL, bool EARLY_W>
__global__ void rms_norm(const T* x,                    // [rows, hidden] (may alias out)
                         T* residual,                   // [rows, hidden], read and written (RESIDUAL only)
                         const T* __restrict__ weight,  // [hidden]
                         T* out,                        // [rows, hidden]
                         const int* __restrict__ n_tokens,
                         int rows, int hidden, float eps) {
    typedef typename RnVec<VEC * sizeof(T)>::type V;
    __shared__ float scratch[32];
    const int row = blockIdx.x;
    const long long base = (long long)row * hidden;

    // The row (and r), the weight and the token count are read before any of them is waited on: a row
    // below `rows` is in bounds whatever the count says, so reading it early is safe, and whether it
    // is valid is only needed before the stores. One memory round trip instead of three
    // (count -> row -> weight) in front of the block sum.
    // A dependent launch: everything below reads or writes what earlier kernels touch. (Loading the weight above the
    // wait, in a loop of its own, cost ptxas registers: 96 at 8 vectors a thread, too many for a 20484-wide row's 672
    // threads.)
    ge_pdl_wait();
    ge_pdl_trigger();
    V xraw[ITEMS], rraw[ITEMS], wraw[ITEMS];
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int i0 = (it * (int)blockDim.x + (int)threadIdx.x) * VEC;
        if (i0 >= hidden) continue;   // hidden is a multiple of VEC: a vector is whole or absent
        xraw[it] = *reinterpret_cast<const V*>(x + base + i0);
        if (RESIDUAL) rraw[it] = *reinterpret_cast<const V*>(residual + base + i0);
        if (EARLY_W) wraw[it] = __ldg(reinterpret_cast<const V*>(weight + i0));
    }
    const int valid = ge_valid_rows(n_tokens, rows);

    // Only the raw vectors stay live across the block sum (the float values are converted again for
    // the output): fewer registers, so more rows per SM are in flight.
    float ss = 0.0f;
#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int i0 = (it * (int)blockDim.x + (int)threadIdx.x) * VEC;
        if (i0 >= hidden) continue;
        if (RESIDUAL) {
            const T* e = reinterpret_cast<const T*>(&xraw[it]);
            T* ze = reinterpret_cast<T*>(&rraw[it]);   // z replaces r in place: it is what gets stored
#pragma unroll
            for (int j = 0; j < VEC; ++j) ze[j] = ge_from_float<T>(ge_to_float(e[j]) + ge_to_float(ze[j]));
            xraw[it] = rraw[it];
        }
        const T* z = reinterpret_cast<const T*>(&xraw[it]);
        // EARLY_W: a zero that ptxas cannot fold, made from the weight, makes the weight load part of
        // the sum, so it is issued with the row's instead of being sunk below the block sum (a second
        // round trip). 0 * (a finite value) is +0 and ss >= 0, so ss is unchanged bit for bit.
        if (EARLY_W) {
            const unsigned wbits = reinterpret_cast<const unsigned short*>(&wraw[it])[0];   // a denormal: finite
            ss = fmaf(0.0f, __uint_as_float(wbits), ss);
        }
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            const float f = ge_to_float(z[j]);
            ss += f * f;
        }
    }
    const float inv = rsqrtf(rn_block_sum(ss, scratch) / (float)hidden + eps);
#if defined(GE_MUTANT_RMSNORM_LAST_ROW)
    if (row >= valid - 1) return;
#else
    if (row >= valid) return;   // uniform per block, after the block sum's barriers: nothing is stored
#endif

#pragma unroll
    for (int it = 0; it < ITEMS; ++it) {
        const int i0 = (it * (int)blockDim.x + (int)threadIdx.x) * VEC;
        if (i0 >= hidden) continue;
#if defined(GE_MUTANT_RMSNORM_LAST_COLUMN)
        if (i0 + VEC >= hidden) continue;
#endif
        if (RESIDUAL) *reinterpret_cast<V*>(residual + base + i0) = xraw[it];
        const T* z = reinterpret_cast<const T*>(&xraw[it]);
        if (!EARLY_W) wraw[it] = __ldg(reinterpret_cast<const V*>(weight + i0));
        const T* we = reinterpret_cast<const T*>(&wraw[it]);
        V oraw;
        T* oe = reinterpret_cast<T*>(&oraw);
#pragma unroll
        for (int j = 0; j < VEC; ++j) oe[j] = ge_from_float<T>(ge_to_float(z[j]) * inv * ge_to_float(we[j]));
        *reinterpret_cast<V*>(out + base + i0) = oraw;
    }
}

// Rows too long to keep in registers: at 16 vectors per thread ptxas needs more registers than a block of the
// 600-1024 threads such a row takes can have (the H200 refused rms_norm<bf16, 2 or 4, 16, ...> at 672 threads).
// Two passes over the row instead: the sum of squares, then the normalised output, each thread taking the same
// vectors in both, so z = x + r is recomputed from the same inputs (same bits) and the second pass's reads of x
// and r are L2 hits. r is written only in the second pass, after both reads of its vector by the same thread,
// and x may alias out for the same reason. Invalid rows return before anything is read or written.
#define RN_LONG_THREADS 512

template <typename T, int VEC, bool RESIDUAL>
GE_DEVICE typename RnVec<VEC * sizeof(T)>::type rn_long_z(const T* x, const T* residual, long long at) {
    typedef typename RnVec<VEC * sizeof(T)>::type V;
    V z = *reinterpret_cast<const V*>(x + at);
    if (RESIDUAL) {
        const V r = *reinterpret_cast<const V*>(residual + at);
        T* ze = reinterpret_cast<T*>(&z);
        const T* re = reinterpret_cast<const T*>(&r);
#pragma unroll
        for (int j = 0; j < VEC; ++j) ze[j] = ge_from_float<T>(ge_to_float(ze[j]) + ge_to_float(re[j]));
    }
    return z;
}

template <typename T, int VEC, bool RESIDUAL>
__global__ void __launch_bounds__(RN_LONG_THREADS)
rms_norm_long(const T* x, T* residual, const T* __restrict__ weight, T* out, const int* __restrict__ n_tokens,
              int rows, int hidden, float eps) {
    typedef typename RnVec<VEC * sizeof(T)>::type V;
    __shared__ float scratch[32];
    const int row = blockIdx.x;
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
#if defined(GE_MUTANT_RMSNORM_LAST_ROW)
    if (row >= ge_valid_rows(n_tokens, rows) - 1) return;
#else
    if (row >= ge_valid_rows(n_tokens, rows)) return;   // uniform per block, before the block sum's barriers
#endif
    const long long base = (long long)row * hidden;
    const int vectors = hidden / VEC;
    float ss = 0.0f;
#pragma unroll 4
    for (int v = threadIdx.x; v < vectors; v += RN_LONG_THREADS) {
        const V zraw = rn_long_z<T, VEC, RESIDUAL>(x, residual, base + (long long)v * VEC);
        const T* z = reinterpret_cast<const T*>(&zraw);
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            const float f = ge_to_float(z[j]);
            ss += f * f;
        }
    }
    const float inv = rsqrtf(rn_block_sum(ss, scratch) / (float)hidden + eps);
#pragma unroll 4
    for (int v = threadIdx.x; v < vectors; v += RN_LONG_THREADS) {
#if defined(GE_MUTANT_RMSNORM_LAST_COLUMN)
        if (v == vectors - 1) continue;
#endif
        const long long at = base + (long long)v * VEC;
        const V zraw = rn_long_z<T, VEC, RESIDUAL>(x, residual, at);
        if (RESIDUAL) *reinterpret_cast<V*>(residual + at) = zraw;
        const V wraw = __ldg(reinterpret_cast<const V*>(weight + (long long)v * VEC));
        const T* z = reinterpret_cast<const T*>(&zraw);
        const T* we = reinterpret_cast<const T*>(&wraw);
        V oraw;
        T* oe = reinterpret_cast<T*>(&oraw);
#pragma unroll
        for (int j = 0; j < VEC; ++j) oe[j] = ge_from_float<T>(ge_to_float(z[j]) * inv * ge_to_float(we[j]));
        *reinterpret_cast<V*>(out + at) = oraw;
    }
}
