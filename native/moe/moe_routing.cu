// MoE routing: the fp32 router GEMM, top-k softmax over the gate logits (optionally with a selection
// bias), then per-expert counts, prefix sums and the (stable) permutation of assignments into
// expert-sorted rows. No host involvement anywhere, so the whole routing is capturable; rows at or past
// *n_tokens never reach an expert. Launches per layer: up to 32 rows, the router (fp32 only) and moe_topk_assign;
// many, the tiled router with the top-k fused (when one block holds every expert) and moe_assign, else the
// router, moe_topk_softmax and moe_assign.
#include "common.cuh"

#define GE_NONE 0x7fffffff

// Weight rounding after routing (round_weights): 0 keeps fp32, 1 rounds to bf16, 2 to fp16 (ERNIE's
// router casts its weights to the activation dtype before the experts use them).
GE_DEVICE float ge_route_round(float w, int round_weights) {
    if (round_weights == 1) return __bfloat162float(__float2bfloat16_rn(w));
    if (round_weights == 2) return __half2float(__float2half_rn(w));
    return w;
}

// Experts per lane (EPL) of the warp-per-token kernels is a template parameter, the smallest of 2, 4, 8 and 32 that
// holds the layer's experts (MoeRouting.ExpertsPerLane; 32 x 32 = MoeRouting.MaxExperts): the per-expert loops unroll
// EPL times, and one instance for every count up to 1024 was 6,928 instructions of code, which a one-token routing
// walked through with instruction-cache misses (ncu at e29bf1b, H200: "no instruction" the top stall after the barrier).

// Max and sum over a group of W lanes (a power of two; xor offsets below W stay inside the group).
template <int W>
GE_DEVICE float ge_group_max(float v) {
#pragma unroll
    for (int o = W / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <int W>
GE_DEVICE float ge_group_sum(float v) {
#pragma unroll
    for (int o = W / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Order-preserving key of a score: a larger float has a larger key (-0 and +0 the same), every number's key is at least
// 0x007fffff, NaN's is 1 (below every number: a NaN score is chosen only when nothing else is left) and 0 means "taken or
// no expert". One unsigned compare then orders two candidates, and a warp finds its best with one redux.sync.
GE_DEVICE unsigned ge_route_key(float f) {
    if (f != f) return 1u;
    unsigned u = __float_as_uint(f);
    if (u == 0x80000000u) u = 0u;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
GE_DEVICE float ge_route_unkey(unsigned k) { return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k); }

// Largest / smallest value over a group of W lanes: redux.sync for a whole warp (one instruction where a shuffle tree
// is five dependent steps), the xor tree for narrower groups.
template <int W>
GE_DEVICE unsigned ge_group_max_u32(unsigned v) {
    if constexpr (W == 32) {
        return __reduce_max_sync(0xffffffffu, v);
    } else {
#pragma unroll
        for (int o = W / 2; o > 0; o >>= 1) {
            const unsigned y = (unsigned)__shfl_xor_sync(0xffffffffu, (int)v, o);
            v = y > v ? y : v;
        }
        return v;
    }
}
template <int W>
GE_DEVICE unsigned ge_group_min_u32(unsigned v) {
    if constexpr (W == 32) {
        return __reduce_min_sync(0xffffffffu, v);
    } else {
#pragma unroll
        for (int o = W / 2; o > 0; o >>= 1) {
            const unsigned y = (unsigned)__shfl_xor_sync(0xffffffffu, (int)v, o);
            v = y < v ? y : v;
        }
        return v;
    }
}

// Softmax and top-k of one token on a group of W lanes (W = 32: a warp; the fused router packs 32 / W tokens into a
// warp): lane l of the group holds the logit of expert l + W j in v[j] (j < EPL, experts past `experts` unread).
// Every lane of the warp must call it (the shuffles span the warp); `live` false writes the padded row's -1 / 0 instead,
// `store` false writes nothing. Without a selection bias the choice reads the logits (softmax is monotone, so the choice
// is exact and independent of how expf rounds). With one, it reads p + bias in fp32 as ERNIE-4.5 does, and the weight
// of a chosen expert is its p, not its score. Renormalising divides by max(sum of chosen p, norm_min); norm_min = 0 is
// the plain renormalisation. Each p is computed once and kept in registers, and for top_k <= W lane s keeps slot s's
// weight, so the renormalisation and the one coalesced store need no trip through global memory. The sums run in a
// fixed order for a given W (each lane over its j ascending, then the xor tree).
// A slot's choice is two group reductions over score keys (ge_route_key): the largest key, then the lowest expert
// holding it (ties go to the lower index, as the host rule's strictly-greater scan), and one shuffle for its p. The
// three-value shuffle tree it replaces was a chain of about 100 dependent instructions per slot; at one token a step's
// routing is that chain (ncu at c54abd4, H200: moe_topk_assign 12 us on one SM, 1.0 instructions per cycle).
template <int EPL, int W>
GE_DEVICE void ge_route_token(const float (&v)[EPL], int experts, const float* __restrict__ bias, int top_k, int renormalize,
                              float norm_min, int round_weights, bool live, bool store,
                              int* __restrict__ out_ids, float* __restrict__ out_w) {
    const int sub = threadIdx.x & (W - 1);
    const int group_base = (threadIdx.x & 31) & ~(W - 1);   // the group's first lane in the warp
    unsigned mk = 0u;
#pragma unroll
    for (int j = 0; j < EPL; ++j) {
        if (W * j >= experts) break;
        if (sub + W * j < experts) { const unsigned k = ge_route_key(v[j]); mk = k > mk ? k : mk; }
    }
    const float mx = ge_route_unkey(ge_group_max_u32<W>(mk));
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < EPL; ++j) {
        if (W * j >= experts) break;
        if (sub + W * j < experts) sum += expf(v[j] - mx);
    }
    sum = ge_group_sum<W>(sum);
    float p[EPL];
    unsigned key[EPL];
#pragma unroll
    for (int j = 0; j < EPL; ++j) {
        if (W * j >= experts) break;
        const int e = sub + W * j;
        p[j] = e < experts ? expf(v[j] - mx) / sum : 0.0f;
        key[j] = e < experts ? ge_route_key(bias ? p[j] + bias[e] : v[j]) : 0u;
    }

    float chosen = 0.0f, my_w = 0.0f;
    int my_id = GE_NONE;
    for (int s = 0; s < top_k; ++s) {
        unsigned lk = 0u;
        int le = GE_NONE;
        float lp = 0.0f;
#pragma unroll
        for (int j = 0; j < EPL; ++j) {
            if (W * j >= experts) break;
            if (key[j] > lk) { lk = key[j]; le = sub + W * j; lp = p[j]; }
        }
        const unsigned best = ge_group_max_u32<W>(lk);
        const int be = (int)ge_group_min_u32<W>(lk == best && best != 0u ? (unsigned)le : (unsigned)GE_NONE);
        const float bp = __shfl_sync(0xffffffffu, lp, group_base + (be & (W - 1)));
#if !defined(GE_MUTANT_ROUTING_KEEPS_TAKEN)
        if (be != GE_NONE && (be & (W - 1)) == sub) {
#pragma unroll
            for (int j = 0; j < EPL; ++j) {
                if (W * j >= experts) break;
                if (sub + W * j == be) key[j] = 0u;
            }
        }
#endif
        chosen += be != GE_NONE ? bp : 0.0f;
        if (top_k <= W) {
            if (sub == s) { my_id = be; my_w = be != GE_NONE ? bp : 0.0f; }
        } else if (sub == 0 && live && store) {
            out_ids[s] = be; out_w[s] = be != GE_NONE ? bp : 0.0f;
        }
    }
#if defined(GE_MUTANT_ROUTING_NO_RENORM)
    const float denom = 1.0f;
#else
    const float denom = renormalize ? fmaxf(chosen, norm_min) : 1.0f;
#endif
    if (top_k <= W) {
        if (store && sub < top_k) {
            out_ids[sub] = live ? my_id : -1;
            out_w[sub] = live ? ge_route_round(renormalize ? my_w / denom : my_w, round_weights) : 0.0f;
        }
        return;
    }
    __syncwarp();   // more than W slots: the group's lane 0 wrote them above
    if (!store) return;
    for (int s = sub; s < top_k; s += W) {
        if (!live) { out_ids[s] = -1; out_w[s] = 0.0f; continue; }
        const float w = renormalize ? out_w[s] / denom : out_w[s];
        out_w[s] = ge_route_round(w, round_weights);
    }
}

// Rows at or past the token count: no expert, weight 0 (the assignment skips id -1).
GE_DEVICE void ge_route_padded(int* __restrict__ out_ids, float* __restrict__ out_w, int top_k) {
    for (int s = threadIdx.x & 31; s < top_k; s += 32) { out_ids[s] = -1; out_w[s] = 0.0f; }
}

// One warp per token. The row's loads are issued before the token count is read, so the two global latencies
// overlap (rows < `rows` are in bounds whatever the count); the old form read the count first, then the row for the
// max, again for the sum and again per slot (with an expf and a division per expert per slot), wrote each slot from
// lane 0 and read them back from global memory to renormalise: a serial chain of about 20 dependent steps per token.
template <typename T, int EPL>
__global__ void moe_topk_softmax(const T* __restrict__ logits,   // [rows, experts]
                                 const float* __restrict__ bias, // [experts] selection bias, or null
                                 int* __restrict__ ids,          // [rows, top_k]
                                 float* __restrict__ weights,    // [rows, top_k]
                                 const int* n_tokens, int rows, int experts, int top_k, int renormalize,
                                 float norm_min, int round_weights) {
    const int lane = threadIdx.x & 31;
    const int t = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
    if (t >= rows) return;
    const T* row = logits + (long long)t * experts;
    float v[EPL];
#pragma unroll
    for (int j = 0; j < EPL; ++j) {
        if (32 * j >= experts) break;
        const int e = lane + 32 * j;
        v[j] = e < experts ? ge_to_float(row[e]) : 0.0f;
    }
    int* out_ids = ids + (long long)t * top_k;
    float* out_w = weights + (long long)t * top_k;
    if (t >= ge_valid_rows(n_tokens, rows)) { ge_route_padded(out_ids, out_w, top_k); return; }
    ge_route_token<EPL, 32>(v, experts, bias, top_k, renormalize, norm_min, round_weights, true, true, out_ids, out_w);
}

// Few tokens (row bound <= 32): the top-k softmax and the assignment in one block, so routing costs one launch.
// A warp's tokens run one after another, so past a token or two per warp the two-kernel form, a warp per token over
// many SMs, is as fast; 512 threads leave each thread 128 registers for the EPL-entry v, p and key arrays of
// ge_route_token at EPL 32.
// Warps route tokens (ge_route_token, as moe_topk_softmax), the block's barrier makes their ids visible to it, shared
// counters give the counts (integer atomics: the totals do not depend on the order), warp 0 scans them into the
// offsets and then walks the assignments in order (token, then slot) 32 at a time: __match_any_sync groups the lanes
// of one expert, each takes the expert's next row plus its rank among them, and the group's first lane advances the
// expert's counter. Rows of an expert are therefore stable, the same as moe_assign's and the host rule's.
template <typename T, int EPL>
__global__ void __launch_bounds__(512)
moe_topk_assign(const T* __restrict__ logits,    // [rows, experts]
                const float* __restrict__ bias,  // [experts] selection bias, or null
                int* __restrict__ ids,           // [rows, top_k]
                float* __restrict__ weights,     // [rows, top_k]
                int* __restrict__ offsets,       // [experts + 1]
                int* __restrict__ counts,        // [experts]
                int* __restrict__ permutation,   // [rows * top_k] or [experts * P]
                int* __restrict__ inverse,       // [rows * top_k]
                const int* n_tokens, int rows, int experts, int top_k, int renormalize, float norm_min, int round_weights,
                int padded_slots) {
    __shared__ int count[1024];   // MoeRouting.MaxExperts
    __shared__ int next[1024];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
    for (int e = threadIdx.x; e < experts; e += blockDim.x) count[e] = 0;
    const int valid = ge_valid_rows(n_tokens, rows);
    for (int t = warp; t < rows; t += warps) {
        const T* row = logits + (long long)t * experts;
        int* out_ids = ids + (long long)t * top_k;
        float* out_w = weights + (long long)t * top_k;
        if (t >= valid) { ge_route_padded(out_ids, out_w, top_k); continue; }
        float v[EPL];
#pragma unroll
        for (int j = 0; j < EPL; ++j) {
            if (32 * j >= experts) break;
            const int e = lane + 32 * j;
            v[j] = e < experts ? ge_to_float(row[e]) : 0.0f;
        }
        ge_route_token<EPL, 32>(v, experts, bias, top_k, renormalize, norm_min, round_weights, true, true, out_ids, out_w);
    }
    __syncthreads();   // every id written, and visible to the block
    const int total = valid * top_k;
    for (int a = threadIdx.x; a < total; a += blockDim.x) {
        const int id = ids[a];
        if ((unsigned)id < (unsigned)experts) atomicAdd(&count[id], 1);
    }
    __syncthreads();
    if (warp == 0) {
        int run = 0;
        for (int base = 0; base < experts; base += 32) {
            const int e = base + lane, c = e < experts ? count[e] : 0;
            int incl = c;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const int y = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += y;
            }
            if (e < experts) {
#if defined(GE_MUTANT_ASSIGN_COUNT)
                counts[e] = max(c - 1, 0);
#else
                counts[e] = c;
#endif
                offsets[e] = run + incl - c;
                next[e] = padded_slots > 0 ? e * padded_slots : run + incl - c;
            }
            run += __shfl_sync(0xffffffffu, incl, 31);
        }
        if (lane == 0) offsets[experts] = run;
        __syncwarp();
        const unsigned below = (1u << lane) - 1u;
        for (int c0 = 0; c0 < total; c0 += 32) {
            const int a = c0 + lane;
            const int id = a < total ? ids[a] : -1;
            const bool mine = (unsigned)id < (unsigned)experts;
            const unsigned peers = __match_any_sync(0xffffffffu, mine ? id : -1);
            const int rank = __popc(peers & below);
            const int row = mine ? next[id] + rank : -1;
            __syncwarp();
            if (mine) {
                permutation[row] = a;
                if (rank == 0) next[id] += __popc(peers);
            }
            if (a < total) inverse[a] = row;
            __syncwarp();
        }
    }
    for (int a = total + threadIdx.x; a < rows * top_k; a += blockDim.x) inverse[a] = -1;
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

// Each warp's partial sums, reduced over its lanes, into red[warp] (lane 0 stores).
GE_DEVICE void ge_router_store_partials(const float (&acc)[ROUTER_TOKENS][ROUTER_EXPERTS],
                                        float (&red)[ROUTER_WARPS][ROUTER_TOKENS * ROUTER_EXPERTS], int warp, int lane) {
#pragma unroll
    for (int i = 0; i < ROUTER_TOKENS; ++i)
#pragma unroll
        for (int e = 0; e < ROUTER_EXPERTS; ++e) {
            const float v = ge_warp_sum(acc[i][e]);
            if (lane == 0) red[warp][i * ROUTER_EXPERTS + e] = v;
        }
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
    // The block's router rows (fp32, contiguous) start for L2 under the previous kernel: they are no kernel's output.
    if (vec4 && blockIdx.x == 0 && threadIdx.x == 0)
        ge_prefetch_l2(w + (long long)e0 * hidden, (unsigned)(min(ROUTER_EXPERTS, experts - e0) * hidden * 4));
    ge_pdl_wait();      // everything below reads or writes what earlier kernels touch
    ge_pdl_trigger();
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
#if defined(GE_MUTANT_ROUTER_RACY_REDUCTION)
    // Warp 0 (whose K slice is never empty) stores its partials only after the sum, which warp 0 alone runs: it reads
    // them before they are written, every time (dropping the barrier alone happened to work on the H200).
    const bool store_now = warp != 0;
#else
    const bool store_now = true;
#endif
    if (store_now) ge_router_store_partials(acc, red, warp, lane);
    __syncthreads();
    for (int o = threadIdx.x; o < ROUTER_TOKENS * ROUTER_EXPERTS; o += blockDim.x) {
        const int i = o / ROUTER_EXPERTS, e = o - i * ROUTER_EXPERTS;
        if (i >= nt || e >= ne) continue;
        float v = 0.0f;
#pragma unroll
        for (int wi = 0; wi < ROUTER_WARPS; ++wi) v += red[wi][o];
        logits[(long long)(t0 + i) * experts + e0 + e] = v;
    }
#if defined(GE_MUTANT_ROUTER_RACY_REDUCTION)
    __syncwarp();   // warp 0's reads come before its stores
#endif
    if (!store_now) ge_router_store_partials(acc, red, warp, lane);
}

// fp32 router for many tokens: a shared-memory tiled SIMT GEMM, fp32 FMAs only (no TF32). A block is RT_TOKENS
// tokens x BE experts with 4 * BE threads in RT_KGROUPS K groups; a thread holds a 4 x 4 register tile (tokens
// tg + 4i, experts eg + (BE / 4) j, so 8 neighbouring threads read distinct 16-byte bank groups). K is staged in
// chunks of RT_CHUNK through two shared buffers, the next chunk's global loads held in registers while the current
// one multiplies (one barrier per chunk); each 16-byte shared read feeds 16 FMAs.
// Summation order, the same for every BE, grid and row count: K group g sums k = c * 64 + 16 g + [0, 16) over the
// chunks c in ascending order, one fmaf after another; the logit is ((P0 + P1) + P2) + P3.
// With `ids` given (the host passes it only when one block holds every expert, BE >= experts) the block then runs
// the top-k softmax of its tokens from the logit tile in shared memory (ge_route_token on BE / 4 lanes per token, so
// all 16 tokens at once: a warp per token took two tokens per warp one after the other, about 1600 cycles each), and
// the separate top-k kernel is not launched; rows at or past the count get id -1 as there. Its softmax sum runs over
// a 16- (or 4-) lane tree rather than 32, so its weights may differ from moe_topk_softmax's in the last bits.
#define RT_TOKENS 16
#define RT_KGROUPS 4
#define RT_CHUNK 64
#define RT_GROUP_K (RT_CHUNK / RT_KGROUPS)
#define RT_STRIDE (RT_CHUNK + 4)   // floats per staged row: 16-byte aligned, row r's quad j in bank group (17 r + j) % 8

// Four K values of one row starting at k as floats, zero past the row: one 8-byte (16-bit T) or 16-byte (fp32) load
// when the launcher allows it (vec4: hidden % 4 == 0 and aligned rows, so a quad never straddles the end), else four.
template <typename T>
GE_DEVICE float4 ge_router_quad(const T* row, int k, int hidden, int vec4) {
    if (k >= hidden) return make_float4(0.f, 0.f, 0.f, 0.f);
    float f[4];
    if (vec4) {
        if constexpr (sizeof(T) == 4) {
            return *reinterpret_cast<const float4*>(row + k);   // fp32 weights: 16-byte aligned rows
        } else {
            ge_router_load4(row + k, f);
            return make_float4(f[0], f[1], f[2], f[3]);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) f[i] = k + i < hidden ? ge_to_float(row[k + i]) : 0.0f;
    return make_float4(f[0], f[1], f[2], f[3]);
}

template <typename T, int BE>
__global__ void __launch_bounds__(4 * BE)
moe_router_tiled(const T* __restrict__ x,          // [rows, hidden]
                 const float* __restrict__ w,      // [experts, hidden]
                 float* __restrict__ logits,       // [rows, experts]
                 const int* n_tokens, int rows, int hidden, int experts, int vec4,
                 const float* __restrict__ bias,   // [experts] selection bias or null (fused top-k only)
                 int* __restrict__ ids,            // [rows, top_k] or null: logits only
                 float* __restrict__ weights,      // [rows, top_k]
                 int top_k, int renormalize, float norm_min, int round_weights) {
    constexpr int NT = 4 * BE;                           // threads
    constexpr int XQ = (RT_TOKENS * RT_CHUNK / 4 + NT - 1) / NT;   // activation quads per thread per chunk
    constexpr int WQ = BE * RT_CHUNK / 4 / NT;           // weight quads per thread per chunk (exactly 4)
    // Staging: xs[2][RT_TOKENS][RT_STRIDE] then ws[2][BE][RT_STRIDE]. After the last chunk ws holds the K groups'
    // partials [RT_KGROUPS][RT_TOKENS][BE + 1] and xs the logit tile [RT_TOKENS][BE] of the fused top-k.
    __shared__ __align__(16) float smem[2 * RT_TOKENS * RT_STRIDE + 2 * BE * RT_STRIDE];
    float* xs = smem;
    float* ws = smem + 2 * RT_TOKENS * RT_STRIDE;
    const int tid = threadIdx.x, g = tid / BE, tj = tid % BE, tg = tj / (BE / 4), eg = tj % (BE / 4);
    const int t0 = blockIdx.x * RT_TOKENS, e0 = blockIdx.y * BE;
    const int valid = ge_valid_rows(n_tokens, rows);
    if (t0 >= valid) {   // uniform over the block
        if (ids)
            for (int t = t0 + tid / 32; t < min(t0 + RT_TOKENS, rows); t += NT / 32)
                ge_route_padded(ids + (long long)t * top_k, weights + (long long)t * top_k, top_k);
        return;
    }
    const int nt = min(RT_TOKENS, valid - t0), ne = min(BE, experts - e0);
#if defined(GE_MUTANT_ROUTER_DROP_LAST_CHUNK)
    const int chunks = max((hidden + RT_CHUNK - 1) / RT_CHUNK - 1, 1);
#else
    const int chunks = (hidden + RT_CHUNK - 1) / RT_CHUNK;
#endif

    float4 xr[XQ], wr[WQ];
    auto load = [&](int c) {
        const int k0 = c * RT_CHUNK;
#pragma unroll
        for (int q = 0; q < XQ; ++q) {
            const int slot = tid + q * NT, r = slot / (RT_CHUNK / 4), kq = slot % (RT_CHUNK / 4);
            xr[q] = slot < RT_TOKENS * RT_CHUNK / 4 && r < nt
                ? ge_router_quad(x + (long long)(t0 + r) * hidden, k0 + 4 * kq, hidden, vec4) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int q = 0; q < WQ; ++q) {
            const int slot = tid + q * NT, r = slot / (RT_CHUNK / 4), kq = slot % (RT_CHUNK / 4);
            wr[q] = r < ne ? ge_router_quad(w + (long long)(e0 + r) * hidden, k0 + 4 * kq, hidden, vec4) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    };
    auto stage = [&](int buf) {
#pragma unroll
        for (int q = 0; q < XQ; ++q) {
            const int slot = tid + q * NT, r = slot / (RT_CHUNK / 4), kq = slot % (RT_CHUNK / 4);
            if (slot < RT_TOKENS * RT_CHUNK / 4)
                *reinterpret_cast<float4*>(xs + (buf * RT_TOKENS + r) * RT_STRIDE + 4 * kq) = xr[q];
        }
#pragma unroll
        for (int q = 0; q < WQ; ++q) {
            const int slot = tid + q * NT, r = slot / (RT_CHUNK / 4), kq = slot % (RT_CHUNK / 4);
            *reinterpret_cast<float4*>(ws + (buf * BE + r) * RT_STRIDE + 4 * kq) = wr[q];
        }
    };

    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
    load(0);
    stage(0);
    __syncthreads();
    for (int c = 0; c < chunks; ++c) {
        const int buf = c & 1;
        if (c + 1 < chunks) load(c + 1);
        const float* xb = xs + buf * RT_TOKENS * RT_STRIDE + g * RT_GROUP_K;
        const float* wb = ws + buf * BE * RT_STRIDE + g * RT_GROUP_K;
#pragma unroll
        for (int kk = 0; kk < RT_GROUP_K; kk += 4) {
            float4 a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = *reinterpret_cast<const float4*>(xb + (tg + 4 * i) * RT_STRIDE + kk);
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = *reinterpret_cast<const float4*>(wb + (eg + (BE / 4) * j) * RT_STRIDE + kk);
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    acc[i][j] = fmaf(a[i].x, b[j].x, acc[i][j]);
                    acc[i][j] = fmaf(a[i].y, b[j].y, acc[i][j]);
                    acc[i][j] = fmaf(a[i].z, b[j].z, acc[i][j]);
                    acc[i][j] = fmaf(a[i].w, b[j].w, acc[i][j]);
                }
        }
        if (c + 1 < chunks) stage(buf ^ 1);
        __syncthreads();
    }

    // Cross-group sum in group order; the staging buffers are free after the last barrier.
    float* part = ws;
    float* tile = xs;
    auto store_partials = [&] {
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
                part[(g * RT_TOKENS + tg + 4 * i) * (BE + 1) + eg + (BE / 4) * j] = acc[i][j];
    };
#if defined(GE_MUTANT_ROUTER_RACY_REDUCTION)
    // K group 0 (never empty) stores after the sum has read its slots, which still hold staged weights. Warp 0 sums
    // tokens 4r, whose group-0 partials it stores itself, so those logits are wrong every time (others as the race falls).
    const bool store_now = g != 0;
#else
    const bool store_now = true;
#endif
    if (store_now) store_partials();
    __syncthreads();
    for (int o = tid; o < RT_TOKENS * BE; o += NT) {
        const int i = o / BE, e = o % BE;
        float v = part[i * (BE + 1) + e];
#pragma unroll
        for (int q = 1; q < RT_KGROUPS; ++q) v += part[(q * RT_TOKENS + i) * (BE + 1) + e];
        if (i < nt && e < ne) logits[(long long)(t0 + i) * experts + e0 + e] = v;
        tile[o] = v;
    }
#if defined(GE_MUTANT_ROUTER_RACY_REDUCTION)
    __syncwarp();   // every lane of the warp (group 0 may be half of one), so its reads come before its stores
#endif
    if (!store_now) store_partials();
    if (!ids) return;
    __syncthreads();
    // W = BE / 4 lanes per token, 4 experts each: the block's 4 * BE threads route all 16 tokens at once.
    constexpr int W = BE / 4;
    const int i = tid / W, t = t0 + i;
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = tile[i * BE + (tid & (W - 1)) + W * j];
#if defined(GE_MUTANT_ROUTER_FUSED_PAD_GUARD)
    const bool live = true;
#else
    const bool live = i < nt;
#endif
    ge_route_token<4, W>(v, experts, bias, top_k, renormalize, norm_min, round_weights, live, t < rows,
                         ids + (long long)t * top_k, weights + (long long)t * top_k);
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
