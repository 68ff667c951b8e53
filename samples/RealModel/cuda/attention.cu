// The sample's causal self-attention for one prefill step, bf16 in and out, fp32 inside. Two kernels:
//   rope_qk           q and k of every token and head to fp32; Qwen3's q_norm / k_norm (RMSNorm over head_dim)
//                     when QK_NORM; then RoPE at the token's position from a host-made cos/sin table. INTERLEAVED
//                     rotates the pairs (2i, 2i+1), as transformers' modeling_ernie4_5_moe.py does (cos[..., :D/2]
//                     repeat_interleave(2), rotate_half over x[0::2], x[1::2]); otherwise the pairs (i, i + D/2),
//                     rotate_half of modeling_llama.py and modeling_qwen3_moe.py. Both use frequency i for pair i.
//   causal_attention  one block per (token t, query head h): scores q·k_j · scale for keys j <= t of the key head
//                     of h's group (GQA: h / (heads / kv_heads), as repeat_kv expands them), softmax in fp32, the
//                     probability-weighted sum of v, rounded once to bf16.
// Every sum has a fixed order (per-thread loops, then the block tree), so a step is bit-identical run to run.
#include "common.cuh"

#define RA_THREADS 128

// Under the host emulation (tests/Kernels/native-emu) dynamic shared memory is one static buffer.
#ifdef GE_EMULATED_MMA
#define RA_DYNAMIC_SMEM(name) float* name = reinterpret_cast<float*>(ge_emulated_dynamic_smem())
#else
#define RA_DYNAMIC_SMEM(name) extern __shared__ float name##_storage[]; float* name = name##_storage
#endif

// Sum (or max) over the block; every thread gets the result. scratch holds 33 floats; the last barrier lets the
// next reduction reuse it.
template <bool MAX>
GE_DEVICE float ra_block_reduce(float v, float* scratch) {
    v = MAX ? ge_warp_max(v) : ge_warp_sum(v);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < warps ? scratch[lane] : (MAX ? __int_as_float((int)0xff800000u) : 0.0f);
        s = MAX ? ge_warp_max(s) : ge_warp_sum(s);
        if (lane == 0) scratch[32] = s;
    }
    __syncthreads();
    const float r = scratch[32];
    __syncthreads();
    return r;
}

template <bool INTERLEAVED, bool QK_NORM>
__global__ void __launch_bounds__(RA_THREADS) rope_qk(
    const __nv_bfloat16* __restrict__ qkv,   // [rows, (heads + 2 kv_heads) * D]: q | k | v
    const float* __restrict__ q_norm,        // [D] (QK_NORM)
    const float* __restrict__ k_norm,        // [D] (QK_NORM)
    const float* __restrict__ cos_table,     // [positions, D / 2]
    const float* __restrict__ sin_table,     // [positions, D / 2]
    float* __restrict__ qk,                  // [rows, (heads + kv_heads) * D]: rotated q | k
    int heads, int kv_heads, int head_dim, float eps) {
    __shared__ float scratch[33];
    const int t = blockIdx.x, head = blockIdx.y;   // head < heads: a query head; else key head (head - heads)
    const int half = head_dim / 2;
    // q heads and then k heads are contiguous in a qkv row, so one index walks both.
    const __nv_bfloat16* x = qkv + (long long)t * (heads + 2 * kv_heads) * head_dim + (long long)head * head_dim;
    float* y = qk + (long long)t * (heads + kv_heads) * head_dim + (long long)head * head_dim;
    float inv_rms = 1.0f;
    if (QK_NORM) {
        float ss = 0.0f;
        for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
            const float v = ge_to_float(x[d]);
            ss += v * v;
        }
        ss = ra_block_reduce<false>(ss, scratch);
        inv_rms = 1.0f / sqrtf(ss / head_dim + eps);
    }
    const float* w = head < heads ? q_norm : k_norm;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const int a = INTERLEAVED ? 2 * i : i, b = INTERLEAVED ? 2 * i + 1 : i + half;
        float xa = ge_to_float(x[a]), xb = ge_to_float(x[b]);
        if (QK_NORM) {
            xa = xa * inv_rms * w[a];
            xb = xb * inv_rms * w[b];
        }
        const float c = cos_table[(long long)t * half + i], s = sin_table[(long long)t * half + i];
        y[a] = xa * c - xb * s;
        y[b] = xb * c + xa * s;
    }
}

// Dynamic shared memory: (head_dim + rows) floats, q then the scores of keys 0..t.
extern "C" __global__ void __launch_bounds__(RA_THREADS) causal_attention(
    const float* __restrict__ qk,            // [rows, (heads + kv_heads) * D] (rope_qk)
    const __nv_bfloat16* __restrict__ qkv,   // [rows, (heads + 2 kv_heads) * D]: v is read from here
    __nv_bfloat16* __restrict__ out,         // [rows, heads * D]
    int heads, int kv_heads, int head_dim, float scale) {
    __shared__ float scratch[33];
    RA_DYNAMIC_SMEM(smem);
    const int t = blockIdx.x, h = blockIdx.y, g = h / (heads / kv_heads);
    const long long qk_width = (long long)(heads + kv_heads) * head_dim, qkv_width = (long long)(heads + 2 * kv_heads) * head_dim;
    float* q = smem;
    float* p = smem + head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) q[d] = qk[t * qk_width + (long long)h * head_dim + d];
    __syncthreads();

    float m = __int_as_float((int)0xff800000u);
    for (int j = threadIdx.x; j <= t; j += blockDim.x) {
        const float* k = qk + j * qk_width + (long long)(heads + g) * head_dim;
        float s = 0.0f;
        for (int d = 0; d < head_dim; ++d) s += q[d] * k[d];
        s *= scale;
        p[j] = s;
        m = fmaxf(m, s);
    }
    m = ra_block_reduce<true>(m, scratch);
    float sum = 0.0f;
    for (int j = threadIdx.x; j <= t; j += blockDim.x) {
        const float e = expf(p[j] - m);
        p[j] = e;
        sum += e;
    }
    sum = ra_block_reduce<false>(sum, scratch);   // its barriers also publish p[] to every thread
    const float inv = 1.0f / sum;

    const __nv_bfloat16* v = qkv + (long long)(heads + kv_heads) * head_dim + (long long)g * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j <= t; ++j) acc += p[j] * ge_to_float(v[j * qkv_width + d]);
        out[(long long)t * heads * head_dim + (long long)h * head_dim + d] = ge_from_float<__nv_bfloat16>(acc * inv);
    }
}
