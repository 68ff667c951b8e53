// The data movement around the expert GEMMs: scatter tokens into expert-sorted rows, SwiGLU between
// the two group GEMMs, and the weighted combine back to token order (plus the shared experts).
#include "moe/swiglu_epilogue.cuh"

// Row-validity modes shared by SwiGLU: which permuted rows hold real data this step.
#define GE_ROWS_DENSE 0     // rows < *n_tokens (shared experts)
#define GE_ROWS_PREFIX 1    // rows < offsets[experts] (prefix-sum layout)
#define GE_ROWS_PADDED 2    // row % P < counts[row / P] (padded layout)

// Copies `count` 16-bit elements; 16-byte vectors when the row length allows.
GE_DEVICE void ge_copy_row16(unsigned short* dst, const unsigned short* src, int count) {
    if ((count & 7) == 0) {
        const uint4* s = reinterpret_cast<const uint4*>(src);
        uint4* d = reinterpret_cast<uint4*>(dst);
        for (int i = threadIdx.x; i < (count >> 3); i += blockDim.x) d[i] = s[i];
    } else {
        for (int i = threadIdx.x; i < count; i += blockDim.x) dst[i] = src[i];
    }
}

// One block per assignment (token t, slot s): copy x[t] to the row routing gave it.
extern "C" __global__ void moe_scatter(const unsigned short* __restrict__ x, // [rows, hidden] bf16/fp16 bits
                                       const int* __restrict__ inverse,      // [rows * top_k]
                                       unsigned short* __restrict__ a,       // [permuted rows, hidden]
                                       const int* n_tokens, int rows, int top_k, int hidden) {
    const int asg = blockIdx.x;
    const int t = asg / top_k;
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
    if (t >= ge_valid_rows(n_tokens, rows)) return;
    const int dst = inverse[asg];
    if (dst < 0) return;
    ge_copy_row16(a + (long long)dst * hidden, x + (long long)t * hidden, hidden);
}

// out = silu(gate) * up in fp32, rounded once. h holds gate in columns [0, F) and up in [F, 2F). The expert GEMMs
// whose kernels fuse this into their epilogue (swiglu_epilogue.cuh) skip it; the shared experts and w4afp8 / nvfp4 / wi4a16 run it.
template <typename T>
__global__ void moe_swiglu(const T* __restrict__ h,    // [rows, 2 * ffn]
                           T* __restrict__ out,        // [rows, ffn]
                           const int* __restrict__ valid_info, // PREFIX: offsets [E + 1]; PADDED: counts [E]
                           const int* n_tokens, int rows, int ffn, int mode, int experts, int slots) {
    // grid.y splits the columns when there are few rows (see the launcher): same math per element.
    const int r = blockIdx.x;
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
    if (r >= rows) return;
    bool valid;
    if (mode == GE_ROWS_PREFIX) valid = r < valid_info[experts];
    else if (mode == GE_ROWS_PADDED) valid = (r % slots) < valid_info[r / slots];
    else valid = r < ge_valid_rows(n_tokens, rows);
    if (!valid) return;
#if defined(GE_MUTANT_SWIGLU_SWAP)
    const T* up = h + (long long)r * 2 * ffn;
    const T* gate = up + ffn;
#else
    const T* gate = h + (long long)r * 2 * ffn;
    const T* up = gate + ffn;
#endif
    T* o = out + (long long)r * ffn;
    for (int c = blockIdx.y * blockDim.x + threadIdx.x; c < ffn; c += gridDim.y * blockDim.x) {
        o[c] = ge_from_float<T>(ge_silu_mul(ge_to_float(gate[c]), ge_to_float(up[c])));
    }
}

// out[t] = sum over slots (in slot order, fp32) of weight * y[row of (t, slot)] (+ shared[t]), rounded
// once. Padded tokens get zeros so the output is fully defined. One block row per token; grid.y splits
// the hidden columns when there are few tokens (one block per token left most SMs idle: 21 us at n = 1
// on the H200 for a 2560-wide, top-6 combine); each element's sum is the same at any split.
template <typename T>
__global__ void moe_combine(const T* __restrict__ y,        // [permuted rows, hidden]
                            const int* __restrict__ inverse, // [rows * top_k]
                            const float* __restrict__ weights, // [rows, top_k]
                            const T* __restrict__ shared,   // [rows, hidden] or null
                            T* __restrict__ out,            // [rows, hidden]
                            const int* n_tokens, int rows, int top_k, int hidden) {
    const int t = blockIdx.x;
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
    if (t >= rows) return;
    T* o = out + (long long)t * hidden;
    const int c0 = blockIdx.y * blockDim.x + threadIdx.x, stride = gridDim.y * blockDim.x;
    if (t >= ge_valid_rows(n_tokens, rows)) {
        for (int c = c0; c < hidden; c += stride) o[c] = ge_from_float<T>(0.0f);
        return;
    }
    const int* inv = inverse + (long long)t * top_k;
    const float* w = weights + (long long)t * top_k;
    for (int c = c0; c < hidden; c += stride) {
        float acc = 0.0f;
#if defined(GE_MUTANT_COMBINE_DROP_LAST_SLOT)
        for (int s = 0; s < top_k - 1; ++s)
#else
        for (int s = 0; s < top_k; ++s)
#endif
            acc = __fmaf_rn(w[s], ge_to_float(y[(long long)inv[s] * hidden + c]), acc);
        if (shared) acc = __fadd_rn(acc, ge_to_float(shared[(long long)t * hidden + c]));
        o[c] = ge_from_float<T>(acc);
    }
}
