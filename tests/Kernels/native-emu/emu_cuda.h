// Host emulation of the CUDA execution model, just enough for the MoE kernels (group GEMMs, wgmma ones included): one OS thread per CUDA
// thread, std::barrier for __syncthreads and for each warp's collective operations (shuffles, ballots,
// mma.sync). Blocks run one after another, so `__shared__` becomes a function-local static. It checks
// indexing, scheduling, decoding and tails of the real native/ sources on a machine without a GPU;
// it cannot show timing or PTX-level problems, but it does run asynchronous copies and MMAs in adverse legal orders:
// MMAs at their latest against copies at their earliest (wgmma below), and, built with GE_EMU_LATE_COPIES, copies at
// their latest too (cp.async below).
#pragma once
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <barrier>
#include <memory>
#include <thread>
#include <cmath>
#include <cstring>
#include <vector>
#include <functional>
#include <algorithm>
#include <type_traits>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
// fails += (expr), and with GE_EMU_FAIL_FAST set (mutants.sh) an exit at the first failing case: a caught mutant then
// costs one case of its main, not all of them.
#define GE_EMU_COUNT(fails, ...)                                                                            \
    do {                                                                                                     \
        (fails) += (__VA_ARGS__);                                                                             \
        if ((fails) && std::getenv("GE_EMU_FAIL_FAST")) {                                                    \
            std::printf("%d failed (stopped at the first failing case: GE_EMU_FAIL_FAST)\n", (int)(fails)); \
            std::exit(1);                                                                                    \
        }                                                                                                    \
    } while (0)
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n)
#define __shared__ alignas(16) static
#define __restrict__ __restrict
#define __grid_constant__
struct dim3 { unsigned x = 0, y = 0, z = 0; };
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
struct float4 { float x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
struct int4 { int x, y, z, w; };
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline int max(int a, int b) { return a > b ? a : b; }
// Dynamic shared memory: blocks run one after another, so one buffer serves them all. Poisoned per
// block launch by `launch` so a read of a byte nothing wrote shows up as NaN.
alignas(128) inline unsigned char g_dyn_smem[256 * 1024];
inline std::barrier<>* g_block;
inline std::vector<std::barrier<>*> g_warp;
inline float g_fx[64][32]; inline int g_ix[64][32]; inline unsigned g_bal[64][32];
inline void __syncthreads() { g_block->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { g_warp[threadIdx.x / 32]->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_fx[w][l] = v; g_warp[w]->arrive_and_wait(); float r = g_fx[w][l ^ o]; g_warp[w]->arrive_and_wait(); return r;
}
inline int __shfl_xor_sync(unsigned, int v, int o) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_ix[w][l] = v; g_warp[w]->arrive_and_wait(); int r = g_ix[w][l ^ o]; g_warp[w]->arrive_and_wait(); return r;
}
inline unsigned __ballot_sync(unsigned, int p) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_bal[w][l] = p ? 1u : 0u; g_warp[w]->arrive_and_wait();
    unsigned m = 0; for (int i = 0; i < 32; ++i) m |= g_bal[w][i] << i;
    g_warp[w]->arrive_and_wait(); return m;
}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __shfl_up_sync(unsigned, int v, int o) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_ix[w][l] = v; g_warp[w]->arrive_and_wait(); int r = g_ix[w][l >= o ? l - o : l]; g_warp[w]->arrive_and_wait(); return r;
}
inline int __shfl_sync(unsigned, int v, int src) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_ix[w][l] = v; g_warp[w]->arrive_and_wait(); int r = g_ix[w][src & 31]; g_warp[w]->arrive_and_wait(); return r;
}
inline float __shfl_sync(unsigned, float v, int src) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_fx[w][l] = v; g_warp[w]->arrive_and_wait(); float r = g_fx[w][src & 31]; g_warp[w]->arrive_and_wait(); return r;
}
// redux.sync over the whole warp (the kernels pass the full mask).
template <typename Op> inline unsigned ge_emu_reduce_u32(unsigned v, Op op) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_bal[w][l] = v; g_warp[w]->arrive_and_wait();
    unsigned r = g_bal[w][0]; for (int i = 1; i < 32; ++i) r = op(r, g_bal[w][i]);
    g_warp[w]->arrive_and_wait(); return r;
}
inline unsigned __reduce_max_sync(unsigned, unsigned v) { return ge_emu_reduce_u32(v, [](unsigned a, unsigned b) { return a > b ? a : b; }); }
inline unsigned __reduce_min_sync(unsigned, unsigned v) { return ge_emu_reduce_u32(v, [](unsigned a, unsigned b) { return a < b ? a : b; }); }
inline unsigned __match_any_sync(unsigned, int v) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    g_ix[w][l] = v; g_warp[w]->arrive_and_wait();
    unsigned m = 0; for (int i = 0; i < 32; ++i) m |= (unsigned)(g_ix[w][i] == v) << i;
    g_warp[w]->arrive_and_wait(); return m;
}
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline int min(int a, int b) { return a < b ? a : b; }
// Split-K tickets: blocks run one after another here, so the fence has nothing to order; the atomic is still one.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline float __ldcg(const float* p) { return *p; }
inline void ge_emu_block_done();   // clears the named barriers (defined with them below)
inline void ge_emu_wgmma_thread_done();   // reports wgmma groups never waited for (defined with wgmma below)
inline void ge_emu_cp_thread_done();      // drops cp.async copies never waited for (defined with cp.async below)
inline void launch(unsigned gx, unsigned gy, unsigned threads, std::function<void()> body) {
    blockDim = {threads, 1, 1};
    gridDim = {gx, gy, 1};
    for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx) {
        std::barrier<> blk(threads);
        std::vector<std::unique_ptr<std::barrier<>>> ws;
        g_warp.clear();
        for (unsigned w = 0; w < threads / 32; ++w) { ws.emplace_back(new std::barrier<>(32)); g_warp.push_back(ws.back().get()); }
        g_block = &blk;
        memset(g_dyn_smem, 0xff, sizeof g_dyn_smem);
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < threads; ++t) ts.emplace_back([=] { threadIdx = {t, 0, 0}; blockIdx = {bx, by, 0}; body(); ge_emu_wgmma_thread_done(); ge_emu_cp_thread_done(); });
        for (auto& t : ts) t.join();
        ge_emu_block_done();
    }
}

// The PTX wrappers of native/ptx.cuh that the group GEMM uses (ptx.cuh is empty under GE_EMULATED_MMA),
// with the same names and semantics.
//
// cp.async (16 bytes, zero-filled when pred is false) completes at once here, the earliest it may land, so the waits are
// no-ops: against the MMAs run at their latest (wgmma below) a refill that overtakes a reader of its slot shows.
// Built with GE_EMU_LATE_COPIES the copies land at their latest instead: when the thread's cp.async.wait_group retires
// their group (TMA boxes when the first thread waits on their mbarrier), so a read of a tile before its wait, or a wait
// for one group too few, reads what the slot held before.
#if defined(GE_EMU_LATE_COPIES)
inline thread_local std::vector<std::function<void()>> g_cp_open;                   // issued since the last commit
inline thread_local std::vector<std::vector<std::function<void()>>> g_cp_groups;    // committed, oldest first
inline void ptx_cp_async_cg16_zfill(void* dst, const void* src, bool pred) {
    std::array<unsigned char, 16> bytes{};
    if (pred) memcpy(bytes.data(), src, 16);
    g_cp_open.push_back([=] { memcpy(dst, bytes.data(), 16); });
}
inline void ptx_cp_async_commit() { g_cp_groups.push_back(std::move(g_cp_open)); g_cp_open.clear(); }
template <int N> inline void ptx_cp_async_wait() {
    while (g_cp_groups.size() > (size_t)N) {
        for (auto& copy : g_cp_groups.front()) copy();
        g_cp_groups.erase(g_cp_groups.begin());
    }
}
// Called by launch as each thread ends: copies never waited for are dropped with the block's shared memory.
inline void ge_emu_cp_thread_done() { g_cp_open.clear(); g_cp_groups.clear(); }
#else
inline void ptx_cp_async_cg16_zfill(void* dst, const void* src, bool pred) {
    if (pred) memcpy(dst, src, 16); else memset(dst, 0, 16);
}
inline void ptx_cp_async_commit() {}
template <int N> inline void ptx_cp_async_wait() {}
inline void ge_emu_cp_thread_done() {}
#endif
// ldmatrix.x4 (b16, no transpose): lane L gives the row address of matrix L / 8, row L % 8; matrix j
// hands lane L the 32-bit word (L % 4) of row L / 4.
inline const void* g_ldm_ptr[64][32];
inline void ptx_ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* p) {
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    unsigned* r[4] = {&r0, &r1, &r2, &r3};
    g_ldm_ptr[w][l] = p; g_warp[w]->arrive_and_wait();
    for (int j = 0; j < 4; ++j) memcpy(r[j], static_cast<const unsigned char*>(g_ldm_ptr[w][j * 8 + l / 4]) + 4 * (l % 4), 4);
    g_warp[w]->arrive_and_wait();
}
inline unsigned char* ge_emulated_dynamic_smem() { return g_dyn_smem; }
inline uint4 ptx_ld_stream16(const void* p) { uint4 v; memcpy(&v, p, 16); return v; }
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    unsigned long long v = ((unsigned long long)y << 32) | x;
    unsigned r = 0;
    for (int i = 0; i < 4; ++i) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xffu) << (8 * i);
    return r;
}
// Packed-pair fma (fma.rn.bf16x2 / f16x2): each half in float, rounded once (exact for the small
// integers the decoders produce, which is what the emulation checks).
inline unsigned short ge_emu_round(float v, bool bf16);
inline float ge_emu_half(unsigned short v, bool bf16);
inline unsigned ge_emu_fma2(unsigned a, unsigned b, unsigned c, bool bf16) {
    unsigned r = 0;
    for (int h = 0; h < 2; ++h) {
        auto part = [&](unsigned w) { return ge_emu_half((unsigned short)(w >> (16 * h)), bf16); };
        r |= (unsigned)ge_emu_round(std::fma(part(a), part(b), part(c)), bf16) << (16 * h);
    }
    return r;
}
template <typename T> inline T __ldg(const T* p) { return *p; }
inline void __nanosleep(unsigned) {}
inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }

// mma.sync.m16n8k16 (row.col, fp32 accumulate): lanes publish their fragments, then each lane computes
// its own four D entries with the fragment layout of the PTX ISA.
inline unsigned g_afrag[64][32][4], g_bfrag[64][32][2];
inline float ge_emu_half(unsigned short v, bool bf16);
inline void ge_emu_mma16816(float* d, const unsigned* a, const unsigned* b, bool bf16) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int i = 0; i < 4; ++i) g_afrag[warp][lane][i] = a[i];
    for (int i = 0; i < 2; ++i) g_bfrag[warp][lane][i] = b[i];
    g_warp[warp]->arrive_and_wait();
    auto half = [](unsigned w, int k) { return (unsigned short)(k % 2 ? w >> 16 : w & 0xffff); };
    auto A = [&](int r, int k) { return ge_emu_half(half(g_afrag[warp][(r % 8) * 4 + (k % 8) / 2][r / 8 + 2 * (k / 8)], k), bf16); };
    auto B = [&](int k, int n) { return ge_emu_half(half(g_bfrag[warp][n * 4 + (k % 8) / 2][k / 8], k), bf16); };
    int g = lane / 4, c = lane % 4;
    for (int i = 0; i < 4; ++i) {
        int r = g + 8 * (i / 2), n = 2 * c + (i % 2);
        float s = d[i];
        for (int k = 0; k < 16; ++k) s += A(r, k) * B(k, n);
        d[i] = s;
    }
    g_warp[warp]->arrive_and_wait();
}
// mma.sync.m16n8k32 s8.s8.s32 (row.col): register i of A holds bytes k = 4c + 16 (i / 2) + 0..3 of row
// g + 8 (i % 2); register j of B bytes k = 4c + 16 j + 0..3 of column g; exact int32 sums.
inline int __float2int_rn(float v) { return (int)std::nearbyint(v); }
inline int __float2int_rz(float v) { return (int)std::trunc(v); }
inline float __int2float_rn(int v) { return (float)v; }
inline void ptx_mma_m16n8k32_s8(int* d, const unsigned* a, const unsigned* b) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int i = 0; i < 4; ++i) g_afrag[warp][lane][i] = a[i];
    for (int i = 0; i < 2; ++i) g_bfrag[warp][lane][i] = b[i];
    g_warp[warp]->arrive_and_wait();
    auto byte = [](unsigned w, int k) { return (int)(signed char)(w >> (8 * (k % 4))); };
    auto A = [&](int r, int k) { return byte(g_afrag[warp][(r % 8) * 4 + (k % 16) / 4][r / 8 + 2 * (k / 16)], k); };
    auto B = [&](int k, int n) { return byte(g_bfrag[warp][n * 4 + (k % 16) / 4][k / 16], k); };
    int g = lane / 4, c = lane % 4;
    for (int i = 0; i < 4; ++i) {
        int r = g + 8 * (i / 2), n = 2 * c + (i % 2);
        int s = d[i];
        for (int k = 0; k < 32; ++k) s += A(r, k) * B(k, n);
        d[i] = s;
    }
    g_warp[warp]->arrive_and_wait();
}
// The type-dispatched wrappers: T is the activation type of the emulated cuda_bf16.h / cuda_fp16.h.
#include "cuda_bf16.h"
#include "cuda_fp16.h"
template <typename T> inline void ptx_mma_m16n8k16(float* d, const unsigned* a, const unsigned* b);
template <> inline void ptx_mma_m16n8k16<__nv_bfloat16>(float* d, const unsigned* a, const unsigned* b) { ge_emu_mma16816(d, a, b, true); }
template <> inline void ptx_mma_m16n8k16<__half>(float* d, const unsigned* a, const unsigned* b) { ge_emu_mma16816(d, a, b, false); }
template <typename T> inline unsigned ptx_fma2(unsigned a, unsigned b, unsigned c);
template <> inline unsigned ptx_fma2<__nv_bfloat16>(unsigned a, unsigned b, unsigned c) { return ge_emu_fma2(a, b, c, true); }
template <> inline unsigned ptx_fma2<__half>(unsigned a, unsigned b, unsigned c) { return ge_emu_fma2(a, b, c, false); }
#define GE_EMULATED_MMA 1

// ------------------------------------------------------------------ wgmma (group_gemm_wgmma.cu)
// Shared-window addresses are offsets into the one dynamic shared buffer (a real window is 228 KiB at most, so the
// descriptor's 18 address bits hold them). The MMA reads its operands through the descriptor's 128-byte swizzle.
//
// The asynchrony, at its most adverse: an issued wgmma runs when the thread's wait_group retires its group (the latest
// moment the hardware may read its operands and write its accumulators), while cp.async and TMA copies land at issue (the
// earliest). So a kernel that refills a slot an MMA still in flight reads, releases a ring slot before waiting for its
// MMAs, or reads accumulators before the wait computes with the wrong values here on every run, where the GPU shows it
// only when its timing opens the window. A group still in flight when the thread ends is reported (its accumulators were
// never waited for).
inline unsigned ptx_smem_addr(const void* p) { return (unsigned)(static_cast<const unsigned char*>(p) - g_dyn_smem); }
inline unsigned long long ptx_wgmma_desc_sw128(unsigned saddr) {
    return (unsigned long long)((saddr & 0x3FFFF) >> 4) | ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}
inline thread_local std::vector<std::function<void()>> g_wgmma_open;                   // issued since the last commit
inline thread_local std::vector<std::vector<std::function<void()>>> g_wgmma_groups;    // committed, oldest first
inline void ptx_wgmma_fence() {}
inline void ptx_wgmma_commit_group() { g_wgmma_groups.push_back(std::move(g_wgmma_open)); g_wgmma_open.clear(); }
template <int N> inline void ptx_wgmma_wait_group() {
    while (g_wgmma_groups.size() > (size_t)N) {
        for (auto& mma : g_wgmma_groups.front()) mma();
        g_wgmma_groups.erase(g_wgmma_groups.begin());
    }
}
template <int N> inline void ptx_wgmma_fence_operands(float*) {}
template <int N> inline void ptx_wgmma_fence_operands(int*) {}
inline void ge_emu_wgmma_issue(std::function<void()> mma) { g_wgmma_open.push_back(std::move(mma)); }
// Called by launch as each thread ends.
inline void ge_emu_wgmma_thread_done() {
    if (g_wgmma_open.empty() && g_wgmma_groups.empty()) return;
    fprintf(stderr, "emulation: thread %u of block (%u, %u) ended with %zu wgmma group(s) never waited for\n", threadIdx.x,
            blockIdx.x, blockIdx.y, g_wgmma_groups.size() + (g_wgmma_open.empty() ? 0 : 1));
    std::abort();
}
inline void ptx_fence_proxy_async_shared() {}
// Byte b of row `row` of a K-major operand whose 128-byte-swizzled tile the descriptor starts: the address the hardware
// forms (start + 128 * row + b) with its 16-byte chunk XOR-ed by address bits 7..9.
inline const unsigned char* ge_emu_wgmma_byte(unsigned long long desc, int row, int b) {
    unsigned addr = (unsigned)(desc & 0x3FFF) * 16 + 128 * row + b;
    addr ^= ((addr >> 7) & 7) << 4;
    return g_dyn_smem + addr;
}
// Element (row, k) of a half-precision operand (2 bytes an element).
inline float ge_emu_wgmma_operand(unsigned long long desc, int row, int k, bool bf16) {
    unsigned short v;
    memcpy(&v, ge_emu_wgmma_byte(desc, row, 2 * k), 2);
    return ge_emu_half(v, bf16);
}
// wgmma.mma_async m64nNk16: thread (warp w of the warpgroup, lane 4g + t) holds D rows 16w + g (registers 4j, 4j + 1)
// and 16w + g + 8 (4j + 2, 4j + 3), columns 8j + 2t and 8j + 2t + 1, as gw_store_tile reads them.
template <typename T, int N> inline void ptx_wgmma_m64k16(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    ge_emu_wgmma_issue([=] {
        constexpr bool bf16 = std::is_same_v<T, __nv_bfloat16>;
        const int w = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
        for (int j = 0; j < N / 8; ++j)
            for (int q = 0; q < 4; ++q) {
                const int row = 16 * w + g + 8 * (q >> 1), col = 8 * j + 2 * t + (q & 1);
                float s = accumulate ? d[4 * j + q] : 0.0f;
                for (int k = 0; k < 16; ++k) s += ge_emu_wgmma_operand(desc_a, row, k, bf16) * ge_emu_wgmma_operand(desc_b, col, k, bf16);
                d[4 * j + q] = s;
            }
    });
}

// wgmma.mma_async m64n256k32 s8.s8.s32: the same accumulator layout, 32 int8 elements (bytes) of K a call, exact int32 sums.
inline void ptx_wgmma_m64n256k32_s8(int* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    ge_emu_wgmma_issue([=] {
        const int w = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
        for (int j = 0; j < 256 / 8; ++j)
            for (int q = 0; q < 4; ++q) {
                const int row = 16 * w + g + 8 * (q >> 1), col = 8 * j + 2 * t + (q & 1);
                int s = accumulate ? d[4 * j + q] : 0;
                for (int k = 0; k < 32; ++k)
                    s += (int)*(const signed char*)ge_emu_wgmma_byte(desc_a, row, k) * (int)*(const signed char*)ge_emu_wgmma_byte(desc_b, col, k);
                d[4 * j + q] = s;
            }
    });
}

// ------------------------------------------------------------------ TMA, mbarrier (group_gemm_tma.cu, int8_act_tma.cu)
template <int N> inline void ptx_setmaxnreg_dec() {}
// Named barriers (bar.sync id, count): one std::barrier per id, made by its first arrival with that count; launch clears
// them after each block.
inline std::mutex g_named_mu;
inline std::unique_ptr<std::barrier<>> g_named[16];
inline void ptx_bar_sync(int id, int count) {
    std::barrier<>* b;
    {
        std::lock_guard<std::mutex> l(g_named_mu);
        if (!g_named[id]) g_named[id] = std::make_unique<std::barrier<>>(count);
        b = g_named[id].get();
    }
    b->arrive_and_wait();
}
inline void ge_emu_tma_block_done();
inline void ge_emu_block_done() { for (auto& b : g_named) b.reset(); ge_emu_tma_block_done(); }
template <int N> inline void ptx_setmaxnreg_inc() {}

// mbarrier: arrivals pending and transaction bytes outstanding in the current phase, the phases completed. Keyed by
// the barrier's host address.
struct ge_emu_mbar { unsigned expected = 0, pending = 0, phase = 0; long long tx = 0; };
inline std::mutex g_mbar_mu;
inline std::condition_variable g_mbar_cv;
inline std::unordered_map<const void*, ge_emu_mbar> g_mbar;
inline void ge_emu_mbar_settle(ge_emu_mbar& b) {
    if (b.pending == 0 && b.tx == 0) { b.phase++; b.pending = b.expected; g_mbar_cv.notify_all(); }
}
inline void ptx_mbar_init(unsigned long long* bar, unsigned count) {
    std::lock_guard<std::mutex> l(g_mbar_mu);
    g_mbar[bar] = ge_emu_mbar{count, count, 0, 0};
}
inline void ptx_fence_mbar_init() {}
inline void ptx_mbar_arrive_expect_tx(unsigned long long* bar, unsigned bytes) {
    std::lock_guard<std::mutex> l(g_mbar_mu);
    auto& b = g_mbar.at(bar);
    b.tx += bytes; b.pending--; ge_emu_mbar_settle(b);
}
inline void ptx_mbar_arrive(unsigned long long* bar) {
    std::lock_guard<std::mutex> l(g_mbar_mu);
    auto& b = g_mbar.at(bar);
    b.pending--; ge_emu_mbar_settle(b);
}
// TMA boxes not yet landed (GE_EMU_LATE_COPIES), by the mbarrier they complete on; under g_mbar_mu. Those no thread
// waited for go with the block (its shared memory is the next block's).
inline std::unordered_map<const void*, std::vector<std::function<void()>>> g_tma_pending;
inline void ge_emu_tma_block_done() { std::lock_guard<std::mutex> l(g_mbar_mu); g_tma_pending.clear(); }
inline void ptx_mbar_wait(unsigned long long* bar, unsigned parity) {
    std::unique_lock<std::mutex> l(g_mbar_mu);
    for (;;) {
        // Boxes issued on this barrier land now, also those issued while this thread slept (their issue wakes it).
        auto pending = g_tma_pending.find(bar);
        if (pending != g_tma_pending.end()) {
            auto copies = std::move(pending->second);
            g_tma_pending.erase(pending);
            for (auto& copy : copies) copy();
        }
        if ((g_mbar.at(bar).phase & 1u) != parity) return;
        g_mbar_cv.wait(l);
    }
}

// A tensor map: the host fields cuTensorMapEncodeTiled takes (innermost dimension first, strides in bytes); swizzle 128
// (the 128-byte swizzle) or 0 (none).
struct ge_tensor_map { const unsigned char* base; int rank; long long dims[3]; long long strides[3]; int box[3]; int elem; int swizzle = 128; };
inline void ptx_tma_prefetch_descriptor(const ge_tensor_map&) {}
// The box at (c0, c1, c2) copied at once into dst, with the 128-byte swizzle (16-byte chunk c of box row r at c ^ (r & 7))
// or row after row, zeros past the tensor's edges; then the bytes complete on bar.
inline void ge_emu_tma_land(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1, int c2);
inline void ge_emu_tma(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1, int c2) {
#if defined(GE_EMU_LATE_COPIES)
    // The source is read now (it does not change while a kernel runs); the box lands when its barrier is first waited on.
    const int bytes = m.box[0] * m.elem * m.box[1] * (m.rank > 2 ? m.box[2] : 1);
    auto staged = std::make_shared<std::vector<unsigned char>>(bytes);
    ge_emu_tma_land(staged->data(), m, nullptr, c0, c1, c2);
    std::lock_guard<std::mutex> l(g_mbar_mu);
    g_tma_pending[bar].push_back([=] {
        memcpy(dst, staged->data(), bytes);
        auto& b = g_mbar.at(bar);
        b.tx -= bytes; ge_emu_mbar_settle(b);
    });
    g_mbar_cv.notify_all();
#else
    ge_emu_tma_land(dst, m, bar, c0, c1, c2);
#endif
}
// The box copied into dst (swizzled as the map says), then, with a barrier, its bytes completed on it.
inline void ge_emu_tma_land(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1, int c2) {
    unsigned char* d = static_cast<unsigned char*>(dst);
    const int rowBytes = m.box[0] * m.elem, rows = m.box[1] * (m.rank > 2 ? m.box[2] : 1);
    for (int r = 0; r < rows; ++r) {
        const long long i1 = c1 + r % m.box[1], i2 = m.rank > 2 ? c2 + r / m.box[1] : 0;
        for (int x = 0; x < m.box[0]; ++x) {
            const long long i0 = c0 + x;
            const int off = r * rowBytes + x * m.elem;
            const int swz = m.swizzle ? (off & ~0x70) | ((((off >> 4) & 7) ^ (r & 7)) << 4) : off;
            const bool in = i0 < m.dims[0] && i1 < m.dims[1] && (m.rank < 3 || i2 < m.dims[2]);
            if (in) memcpy(d + swz, m.base + i0 * m.elem + i1 * m.strides[1] + (m.rank > 2 ? i2 * m.strides[2] : 0), m.elem);
            else memset(d + swz, 0, m.elem);
        }
    }
    if (bar == nullptr) return;
    std::lock_guard<std::mutex> l(g_mbar_mu);
    auto& b = g_mbar.at(bar);
    b.tx -= (long long)rows * rowBytes; ge_emu_mbar_settle(b);
}
inline void ptx_tma_load_2d(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1) { ge_emu_tma(dst, m, bar, c0, c1, 0); }
inline void ptx_tma_load_3d(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1, int c2) { ge_emu_tma(dst, m, bar, c0, c1, c2); }
