// MoE routing: the fp32 router GEMM, top-k softmax over the gate logits (optionally with a selection
// bias), then per-expert counts, prefix sums and the (stable) permutation of assignments into
// expert-sorted rows. No host involvement anywhere, so the
// whole routing is capturable; rows at or past *n_tokens never reach an expert.
#include "common.cuh"

#define GE_NONE 0x7fffffff

// (v, e) beats (bv, be): larger value wins, equal values go to the lower expert index; "no expert"
// (GE_NONE) never wins. The host rule in MoeRoutingHost.TopK is the same.
GE_DEVICE bool ge_route_better(float v, int e, float bv, int be) {
    if (e == GE_NONE) return false;
    if (be == GE_NONE) return true;
    return v > bv || (v == bv && e < be);
}

// Weight rounding after routing (round_weights): 0 keeps fp32, 1 rounds to bf16, 2 to fp16 (ERNIE's
// router casts its weights to the activation dtype before the experts use them).
GE_DEVICE float ge_route_round(float w, int round_weights) {
    if (round_weights == 1) return __bfloat162float(__float2bfloat16_rn(w));
    if (round_weights == 2) return __half2float(__float2half_rn(w));
    return w;
}

// One warp per token; lane l holds experts l, l + 32, ... (E <= 1024, so a 32-bit "taken" mask per lane).
// Without a selection bias the choice reads the logits (softmax is monotone, so the choice is exact and
// independent of how expf rounds). With one, it reads p + bias in fp32 as ERNIE-4.5 does, and the weight
// of a chosen expert is its p, not its score. Renormalising divides by max(sum of chosen p, norm_min);
// norm_min = 0 is the plain renormalisation.
template <typename T>
__global__ void moe_topk_softmax(const T* __restrict__ logits,   // [rows, experts]
                                 const float* __restrict__ bias, // [experts] selection bias, or null
                                 int* __restrict__ ids,          // [rows, top_k]
                                 float* __restrict__ weights,    // [rows, top_k]
                                 const int* n_tokens, int rows, int experts, int top_k, int renormalize,
                                 float norm_min, int round_weights) {
    const int lane = threadIdx.x & 31;
    const int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (t >= rows) return;
    int* out_ids = ids + (long long)t * top_k;
    float* out_w = weights + (long long)t * top_k;
    if (t >= ge_valid_rows(n_tokens, rows)) {
        for (int s = lane; s < top_k; s += 32) { out_ids[s] = -1; out_w[s] = 0.0f; }
        return;
    }
    const T* row = logits + (long long)t * experts;

    float mx = __int_as_float(0xff800000);  // -inf
    for (int e = lane; e < experts; e += 32) mx = fmaxf(mx, ge_to_float(row[e]));
    mx = ge_warp_max(mx);
    float sum = 0.0f;
    for (int e = lane; e < experts; e += 32) sum += expf(ge_to_float(row[e]) - mx);
    sum = ge_warp_sum(sum);

    unsigned taken = 0u;
    float chosen = 0.0f;
    for (int s = 0; s < top_k; ++s) {
        float bv = __int_as_float(0xff800000);
        float bp = 0.0f;
        int be = GE_NONE;
        int j = 0;
        for (int e = lane; e < experts; e += 32, ++j) {
            if (taken & (1u << j)) continue;
            float v = ge_to_float(row[e]);
            float p = 0.0f;
            if (bias) { p = expf(v - mx) / sum; v = p + bias[e]; }
            if (be == GE_NONE || v > bv) { bv = v; be = e; bp = p; }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oe = __shfl_xor_sync(0xffffffffu, be, o);
            float op = __shfl_xor_sync(0xffffffffu, bp, o);
            if (ge_route_better(ov, oe, bv, be)) { bv = ov; be = oe; bp = op; }
        }
        if ((be & 31) == lane) taken |= 1u << (be >> 5);
        float w = bias ? bp : expf(bv - mx) / sum;
        chosen += w;
        if (lane == 0) { out_ids[s] = be; out_w[s] = w; }
    }
    __syncwarp();
#if defined(GE_MUTANT_ROUTING_NO_RENORM)
    const float denom = 1.0f;
#else
    const float denom = renormalize ? fmaxf(chosen, norm_min) : 1.0f;
#endif
    for (int s = lane; s < top_k; s += 32) {
        float w = renormalize ? out_w[s] / denom : out_w[s];
        out_w[s] = ge_route_round(w, round_weights);
    }
}

// fp32 router (ERNIE-4.5 keeps gate.weight in fp32 and runs F.linear on x.float()):
// logits[t, e] = sum_k float(x[t, k]) * w[e, k], accumulated in fp32. A block is ROUTER_TOKENS tokens x
// ROUTER_EXPERTS experts; its ROUTER_WARPS warps split K (lane-interleaved 4-wide slices, so each warp
// reads 512 contiguous bytes of a weight row and 256 of an activation row per step) and every x load
// feeds ROUTER_EXPERTS FMAs, every w load ROUTER_TOKENS. The partial sums are reduced across lanes and
// then across warps in warp order (deterministic). Padded rows are skipped (their logits stay as they
// were; the top-k kernel never reads them). One warp per expert over the whole of K, as before, took
// 23 us at one token and 144 us at 2048 on the H200 (hidden 2560, 64 experts): latency at few tokens,
// one load per FMA at many.
#define ROUTER_TOKENS 8
#define ROUTER_EXPERTS 4
#define ROUTER_WARPS 8

// Four consecutive activations as floats; `p` is 8-byte aligned for 16-bit T (the launcher checks).
template <typename T>
GE_DEVICE void ge_router_load4(const T* p, float f[4]) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const T* h = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int j = 0; j < 4; ++j) f[j] = ge_to_float(h[j]);
}

template <typename T>
__global__ void __launch_bounds__(ROUTER_WARPS * 32)
moe_router_fp32(const T* __restrict__ x,         // [rows, hidden]
                const float* __restrict__ w,     // [experts, hidden]
                float* __restrict__ logits,      // [rows, experts]
                const int* n_tokens, int rows, int hidden, int experts, int vec4) {
    __shared__ float red[ROUTER_WARPS][ROUTER_TOKENS * ROUTER_EXPERTS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int t0 = blockIdx.x * ROUTER_TOKENS, e0 = blockIdx.y * ROUTER_EXPERTS;
    const int valid = ge_valid_rows(n_tokens, rows);
    if (t0 >= valid) return;   // uniform over the block
    const int nt = min(ROUTER_TOKENS, valid - t0), ne = min(ROUTER_EXPERTS, experts - e0);
    float acc[ROUTER_TOKENS][ROUTER_EXPERTS];
#pragma unroll
    for (int i = 0; i < ROUTER_TOKENS; ++i)
#pragma unroll
        for (int e = 0; e < ROUTER_EXPERTS; ++e) acc[i][e] = 0.0f;
    if (vec4) {
        for (int k = (warp * 32 + lane) * 4; k < hidden; k += ROUTER_WARPS * 32 * 4) {
            float4 wv[ROUTER_EXPERTS];
#pragma unroll
            for (int e = 0; e < ROUTER_EXPERTS; ++e)
                wv[e] = e < ne ? *reinterpret_cast<const float4*>(w + (long long)(e0 + e) * hidden + k) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int i = 0; i < ROUTER_TOKENS; ++i) {
                if (i >= nt) break;
                float xf[4];
                ge_router_load4(x + (long long)(t0 + i) * hidden + k, xf);
#pragma unroll
                for (int e = 0; e < ROUTER_EXPERTS; ++e) {
                    acc[i][e] = fmaf(xf[0], wv[e].x, acc[i][e]);
                    acc[i][e] = fmaf(xf[1], wv[e].y, acc[i][e]);
                    acc[i][e] = fmaf(xf[2], wv[e].z, acc[i][e]);
                    acc[i][e] = fmaf(xf[3], wv[e].w, acc[i][e]);
                }
            }
        }
    } else {
        for (int k = warp * 32 + lane; k < hidden; k += ROUTER_WARPS * 32) {
            float wk[ROUTER_EXPERTS];
#pragma unroll
            for (int e = 0; e < ROUTER_EXPERTS; ++e) wk[e] = e < ne ? w[(long long)(e0 + e) * hidden + k] : 0.0f;
#pragma unroll
            for (int i = 0; i < ROUTER_TOKENS; ++i) {
                if (i >= nt) break;
                const float xv = ge_to_float(x[(long long)(t0 + i) * hidden + k]);
#pragma unroll
                for (int e = 0; e < ROUTER_EXPERTS; ++e) acc[i][e] = fmaf(xv, wk[e], acc[i][e]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ROUTER_TOKENS; ++i)
#pragma unroll
        for (int e = 0; e < ROUTER_EXPERTS; ++e) {
            const float v = ge_warp_sum(acc[i][e]);
            if (lane == 0) red[warp][i * ROUTER_EXPERTS + e] = v;
        }
#if !defined(GE_MUTANT_ROUTER_RACY_REDUCTION)
    __syncthreads();
#endif
    for (int o = threadIdx.x; o < ROUTER_TOKENS * ROUTER_EXPERTS; o += blockDim.x) {
        const int i = o / ROUTER_EXPERTS, e = o - i * ROUTER_EXPERTS;
        if (i >= nt || e >= ne) continue;
        float v = 0.0f;
#pragma unroll
        for (int wi = 0; wi < ROUTER_WARPS; ++wi) v += red[wi][o];
        logits[(long long)(t0 + i) * experts + e0 + e] = v;
    }
}

// Block-wide sum of an int; every thread gets the total. `scratch` holds 32 ints.
GE_DEVICE int ge_block_sum_int(int v, int* scratch) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    int total = 0;
    for (int w = 0; w < warps; ++w) total += scratch[w];
    return total;
}

// One block per expert. Pass 1 counts assignments below and at this expert (the prefix sum is then
// just the count of lower ids, no cross-block step). Pass 2 walks the assignments in order (token, then
// slot) with a ballot-based block scan, so the rows of an expert are stable and deterministic.
// padded_slots = 0: prefix-sum layout (row = offsets[e] + rank); > 0: padded layout (row = e * P + rank).
extern "C" __global__ void moe_assign(const int* __restrict__ ids, // [rows * top_k]
                                      int* __restrict__ offsets,   // [experts + 1]
                                      int* __restrict__ counts,    // [experts]
                                      int* __restrict__ permutation, // [rows * top_k] or [experts * P]
                                      int* __restrict__ inverse,   // [rows * top_k]
                                      const int* n_tokens, int rows, int top_k, int experts, int padded_slots) {
    __shared__ int scratch[32];
    __shared__ int warp_counts[32];
    const int e = blockIdx.x;
    const int total = ge_valid_rows(n_tokens, rows) * top_k;

    int lt = 0, eq = 0;
    for (int a = threadIdx.x; a < total; a += blockDim.x) {
        int id = ids[a];
        if ((unsigned)id < (unsigned)experts) { lt += id < e; eq += id == e; }
    }
    lt = ge_block_sum_int(lt, scratch);
    eq = ge_block_sum_int(eq, scratch);
    if (threadIdx.x == 0) {
#if defined(GE_MUTANT_ASSIGN_COUNT)
        counts[e] = max(eq - 1, 0);   // in-bounds on purpose: only the reported count is wrong
#else
        counts[e] = eq;
#endif
        offsets[e] = lt;
        if (e == experts - 1) offsets[experts] = lt + eq;
    }
    const int base = padded_slots > 0 ? e * padded_slots : lt;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    const unsigned below = (1u << lane) - 1u;
    int running = 0;
    for (int chunk = 0; chunk < total; chunk += blockDim.x) {
        const int a = chunk + threadIdx.x;
        const bool mine = a < total && ids[a] == e;
        const unsigned ballot = __ballot_sync(0xffffffffu, mine);
        __syncthreads();
        if (lane == 0) warp_counts[warp] = __popc(ballot);
        __syncthreads();
        int before = 0, chunk_count = 0;
        for (int w = 0; w < warps; ++w) {
            int c = warp_counts[w];
            if (w < warp) before += c;
            chunk_count += c;
        }
        if (mine) {
            const int row = base + running + before + __popc(ballot & below);
            permutation[row] = a;
            inverse[a] = row;
        }
        running += chunk_count;
    }
    if (e == 0)
        for (int a = total + threadIdx.x; a < rows * top_k; a += blockDim.x) inverse[a] = -1;
}
