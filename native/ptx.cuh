// The PTX wrappers every kernel family uses, written once: cp.async, ldmatrix, mma.sync, packed fma,
// and the sm_90a wgmma instructions with their fences. Each asm states what it touches: "memory" on
// the instructions that read or write shared memory behind the compiler's back (cp.async and its
// commit / wait, ldmatrix, the wgmma fences), accumulators as "+f" (s32: "+r") operands, so the compiler neither
// caches shared-memory values across them nor moves accumulator reads over an MMA.
//
// Shared-memory operands are generic pointers (converted here with cvta) or, where a kernel computes
// them as such, 32-bit shared-window addresses (ptx_smem_addr). Register operands follow the PTX
// operand order: destinations first.
//
// Under the host emulation of the MoE kernels (tests/Kernels/native-emu/emu_cuda.h defines
// GE_EMULATED_MMA) this header holds only the composites at its end: the emulation supplies the wrappers the
// kernels use, with the same names and semantics.
#pragma once
#include "common.cuh"

#ifndef GE_EMULATED_MMA

GE_DEVICE unsigned ptx_smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

// ------------------------------------------------------------------ cp.async (sm_80+)

// 16-byte global -> shared copy, cached at L2 only (.cg) or at all levels (.ca).
GE_DEVICE void ptx_cp_async_cg16(void* smem, const void* gmem) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(ptx_smem_addr(smem)), "l"(gmem) : "memory");
}
GE_DEVICE void ptx_cp_async_ca16(void* smem, const void* gmem) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16;\n" ::"r"(ptx_smem_addr(smem)), "l"(gmem) : "memory");
}
// The same with a source size: when pred is false nothing is read (gmem must still be a valid
// address expression) and the 16 destination bytes are zero-filled.
GE_DEVICE void ptx_cp_async_cg16_zfill(void* smem, const void* gmem, bool pred) {
    const int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(ptx_smem_addr(smem)), "l"(gmem), "r"(n) : "memory");
}
GE_DEVICE void ptx_cp_async_ca16_zfill(void* smem, const void* gmem, bool pred) {
    const int n = pred ? 16 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(ptx_smem_addr(smem)), "l"(gmem), "r"(n) : "memory");
}
GE_DEVICE void ptx_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still pending.
template <int N> GE_DEVICE void ptx_cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

// ------------------------------------------------------------------ ldmatrix (b16, sm_75+)

// x1 / x2 / x4 8x8 matrices; lanes 8j .. 8j + 7 give the row addresses of matrix j. .trans hands each
// lane the transposed fragment.
GE_DEVICE void ptx_ldmatrix_x1(unsigned& r0, unsigned saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r0) : "r"(saddr) : "memory");
}
GE_DEVICE void ptx_ldmatrix_x2(unsigned& r0, unsigned& r1, unsigned saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(saddr) : "memory");
}
GE_DEVICE void ptx_ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, unsigned saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(saddr) : "memory");
}
GE_DEVICE void ptx_ldmatrix_x1_trans(unsigned& r0, unsigned saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r0) : "r"(saddr) : "memory");
}
GE_DEVICE void ptx_ldmatrix_x2_trans(unsigned& r0, unsigned& r1, unsigned saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(saddr) : "memory");
}
GE_DEVICE void ptx_ldmatrix_x4_trans(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, unsigned saddr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(saddr) : "memory");
}
// Generic-pointer forms.
GE_DEVICE void ptx_ldmatrix_x1(unsigned& r0, const void* smem) { ptx_ldmatrix_x1(r0, ptx_smem_addr(smem)); }
GE_DEVICE void ptx_ldmatrix_x2(unsigned& r0, unsigned& r1, const void* smem) { ptx_ldmatrix_x2(r0, r1, ptx_smem_addr(smem)); }
GE_DEVICE void ptx_ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* smem) {
    ptx_ldmatrix_x4(r0, r1, r2, r3, ptx_smem_addr(smem));
}
GE_DEVICE void ptx_ldmatrix_x1_trans(unsigned& r0, const void* smem) { ptx_ldmatrix_x1_trans(r0, ptx_smem_addr(smem)); }
GE_DEVICE void ptx_ldmatrix_x2_trans(unsigned& r0, unsigned& r1, const void* smem) { ptx_ldmatrix_x2_trans(r0, r1, ptx_smem_addr(smem)); }
GE_DEVICE void ptx_ldmatrix_x4_trans(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* smem) {
    ptx_ldmatrix_x4_trans(r0, r1, r2, r3, ptx_smem_addr(smem));
}

// ------------------------------------------------------------------ streaming loads (sm_80+)

// 16 bytes through the read-only path, not kept in L1 (each byte is read once) and with a 256-byte L2 prefetch (the
// neighbouring lanes and warps read the rest of the row): the weight loads of group_gemm_stream.cu. Not volatile, so the
// compiler may schedule it like a plain load; only for memory no thread writes during the kernel.
GE_DEVICE uint4 ptx_ld_stream16(const void* p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

// ------------------------------------------------------------------ mma.sync (fp32 accumulate)

// m16n8k16, row.col, T = __nv_bfloat16 or __half: d[0..3] += a[0..3] (A fragment) x b[0..1] (B fragment).
template <typename T> GE_DEVICE void ptx_mma_m16n8k16(float* d, const unsigned* a, const unsigned* b);
template <> GE_DEVICE void ptx_mma_m16n8k16<__nv_bfloat16>(float* d, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
template <> GE_DEVICE void ptx_mma_m16n8k16<__half>(float* d, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// fp8 e4m3 x e4m3, m16n8k32, row.col (sm_89+).
GE_DEVICE void ptx_mma_m16n8k32_e4m3(float* d, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// int8 x int8 -> int32, m16n8k32, row.col (sm_80+): the same fragment layout as e4m3 (8-bit operands),
// integer accumulators ("+r"), exact sums.
GE_DEVICE void ptx_mma_m16n8k32_s8(int* d, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// ------------------------------------------------------------------ packed half-precision fma

// Packed pair a * b + c, each half rounded once (fma.rn.bf16x2 / fma.rn.f16x2). Registers only, so
// not volatile: the compiler may schedule it like any arithmetic.
template <typename T> GE_DEVICE unsigned ptx_fma2(unsigned a, unsigned b, unsigned c);
template <> GE_DEVICE unsigned ptx_fma2<__nv_bfloat16>(unsigned a, unsigned b, unsigned c) {
    unsigned d;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
template <> GE_DEVICE unsigned ptx_fma2<__half>(unsigned a, unsigned b, unsigned c) {
    unsigned d;
    asm("fma.rn.f16x2 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// ------------------------------------------------------------------ wgmma (sm_90a)
// Compiled to nothing (fences) or a trap (the MMA) where wgmma is unavailable, so a file using them
// still builds for sm_89; the launcher never picks such a kernel there.

// The accumulators of an m64n64 (32 per thread), m64n128 (64) or m64n256 (128) wgmma as asm operands %0 .. %31 / %63 /
// %127 (one list for every shape below), with constraint c: "+f" for fp32 accumulators, "+r" for s32.
#define GE_WGMMA_OPS32(c, d) \
    c((d)[0]), c((d)[1]), c((d)[2]), c((d)[3]), c((d)[4]), c((d)[5]), c((d)[6]), c((d)[7]), \
    c((d)[8]), c((d)[9]), c((d)[10]), c((d)[11]), c((d)[12]), c((d)[13]), c((d)[14]), c((d)[15]), \
    c((d)[16]), c((d)[17]), c((d)[18]), c((d)[19]), c((d)[20]), c((d)[21]), c((d)[22]), c((d)[23]), \
    c((d)[24]), c((d)[25]), c((d)[26]), c((d)[27]), c((d)[28]), c((d)[29]), c((d)[30]), c((d)[31])
#define GE_WGMMA_ACC32(d) GE_WGMMA_OPS32("+f", d)
#define GE_WGMMA_ACC64(d) GE_WGMMA_ACC32(d), GE_WGMMA_ACC32((d) + 32)
#define GE_WGMMA_ACC128(d) GE_WGMMA_ACC64(d), GE_WGMMA_ACC64((d) + 64)
#define GE_WGMMA_IACC128(d) GE_WGMMA_OPS32("+r", d), GE_WGMMA_OPS32("+r", (d) + 32), GE_WGMMA_OPS32("+r", (d) + 64), GE_WGMMA_OPS32("+r", (d) + 96)
#define GE_WGMMA_REGS32 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define GE_WGMMA_REGS128 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
#define GE_WGMMA_REGS64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// wgmma.mma_async m64n128k32, e4m3 x e4m3 -> f32, both operands from shared memory through matrix
// descriptors, A and B K-major (no transpose), scale 1 for both. accumulate = 0 overwrites d.
GE_DEVICE void ptx_wgmma_m64n128k32_e4m3(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " GE_WGMMA_REGS64 ", %64, %65, p, 1, 1;\n}\n"
        : GE_WGMMA_ACC64(d)
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#else
    __trap();
#endif
}

// wgmma.mma_async m64nNk16 (N = 64, 128 or 256), T x T -> f32 for T = __nv_bfloat16 or __half: both operands from shared
// memory through matrix descriptors, K-major (the trailing 0, 0: no transpose), scale 1 for both. accumulate = 0
// overwrites d (N / 2 registers per thread).
template <typename T, int N> GE_DEVICE void ptx_wgmma_m64k16(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate);
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GE_WGMMA_M64K16(n, ptx_type, regs, acc, a, b, p)                                                     \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" p ", 0;\n"                                          \
                 "wgmma.mma_async.sync.aligned.m64n" n "k16.f32." ptx_type "." ptx_type " " regs            \
                 ", %" a ", %" b ", p, 1, 1, 0, 0;\n}\n"                                                   \
                 : acc(d)                                                                                  \
                 : "l"(desc_a), "l"(desc_b), "r"(accumulate))
#else
#define GE_WGMMA_M64K16(n, ptx_type, regs, acc, a, b, p) __trap()
#endif
template <> GE_DEVICE void ptx_wgmma_m64k16<__nv_bfloat16, 64>(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    GE_WGMMA_M64K16("64", "bf16", GE_WGMMA_REGS32, GE_WGMMA_ACC32, "32", "33", "34");
}
template <> GE_DEVICE void ptx_wgmma_m64k16<__half, 64>(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    GE_WGMMA_M64K16("64", "f16", GE_WGMMA_REGS32, GE_WGMMA_ACC32, "32", "33", "34");
}
template <> GE_DEVICE void ptx_wgmma_m64k16<__nv_bfloat16, 128>(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    GE_WGMMA_M64K16("128", "bf16", GE_WGMMA_REGS64, GE_WGMMA_ACC64, "64", "65", "66");
}
template <> GE_DEVICE void ptx_wgmma_m64k16<__half, 128>(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    GE_WGMMA_M64K16("128", "f16", GE_WGMMA_REGS64, GE_WGMMA_ACC64, "64", "65", "66");
}
template <> GE_DEVICE void ptx_wgmma_m64k16<__nv_bfloat16, 256>(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    GE_WGMMA_M64K16("256", "bf16", GE_WGMMA_REGS128, GE_WGMMA_ACC128, "128", "129", "130");
}
template <> GE_DEVICE void ptx_wgmma_m64k16<__half, 256>(float* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
    GE_WGMMA_M64K16("256", "f16", GE_WGMMA_REGS128, GE_WGMMA_ACC128, "128", "129", "130");
}

// wgmma.mma_async m64n256k32, s8 x s8 -> s32, both operands from shared memory through matrix descriptors, K-major
// (integer wgmma has no transpose or negate operands: the predicate is its only one). 128 int32 accumulators per
// thread, exact sums; accumulate = 0 overwrites d.
GE_DEVICE void ptx_wgmma_m64n256k32_s8(int* d, unsigned long long desc_a, unsigned long long desc_b, int accumulate) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 " GE_WGMMA_REGS128 ", %128, %129, p;\n}\n"
        : GE_WGMMA_IACC128(d)
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#else
    __trap();
#endif
}

// Matrix descriptor of a K-major operand tile in the 128-byte-swizzle layout (rows of 128 bytes, 16-byte chunk c
// of row r at c ^ (r & 7), 8-row atoms of 1024 bytes): the start address in 16-byte units, the 1024-byte stride
// between atoms, swizzle mode 1. saddr is a shared-window address; stepping K inside the 128-byte row is adding
// the byte offset to it (the swizzle is applied to the address the hardware forms), so tiles need 1024-byte
// alignment only.
GE_DEVICE unsigned long long ptx_wgmma_desc_sw128(unsigned saddr) {
    unsigned long long desc = 0;
    desc |= (unsigned long long)((saddr & 0x3FFFF) >> 4);
    desc |= (unsigned long long)(1024 >> 4) << 32;
    desc |= 1ull << 62;
    return desc;
}

// Orders this warpgroup's register and shared-memory accesses before the wgmma that follows.
GE_DEVICE void ptx_wgmma_fence() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
GE_DEVICE void ptx_wgmma_commit_group() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// Waits until at most N committed wgmma groups are pending.
template <int N> GE_DEVICE void ptx_wgmma_wait_group() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Pins N accumulator registers around wgmma issue / wait (CUTLASS's warpgroup_fence_operand): the
// compiler can neither move their reads or writes across the asynchronous MMA nor keep copies.
template <int N> GE_DEVICE void ptx_wgmma_fence_operands(float* d) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}
template <int N> GE_DEVICE void ptx_wgmma_fence_operands(int* d) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+r"(d[i])::"memory");
}
// Makes this thread's generic-proxy writes to shared memory (cp.async included) visible to the async
// proxy that wgmma reads through.
GE_DEVICE void ptx_fence_proxy_async_shared() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Named barrier `id` (1 .. 15; 0 is the one __syncthreads uses) over `count` threads, a multiple of 32: synchronises
// some warps of a block without the others (the MMA warpgroups of a warp-specialised kernel, whose producer warp never
// arrives). Orders shared-memory accesses like __syncthreads among the threads that take part.
GE_DEVICE void ptx_bar_sync(int id, int count) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory"); }

// ------------------------------------------------------------------ TMA, mbarrier, setmaxnreg (sm_90)

// A CUtensorMap as a kernel argument (cuTensorMapEncodeTiled fills it on the host): 128 opaque bytes, 64-aligned,
// passed as a __grid_constant__ parameter so the TMA unit reads it from the parameter space.
struct __align__(64) ge_tensor_map { unsigned long long opaque[16]; };

GE_DEVICE unsigned long long ptx_param_addr(const ge_tensor_map& m) { return reinterpret_cast<unsigned long long>(&m); }

// Pulls the descriptor into the TMA unit's cache before the first copy names it.
GE_DEVICE void ptx_tma_prefetch_descriptor(const ge_tensor_map& m) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("prefetch.tensormap [%0];\n" ::"l"(ptx_param_addr(m)) : "memory");
#else
    __trap();
#endif
}

// An mbarrier in shared memory (8 bytes, 8-aligned) expecting `count` arrivals a phase.
GE_DEVICE void ptx_mbar_init(unsigned long long* bar, unsigned count) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(ptx_smem_addr(bar)), "r"(count) : "memory");
#else
    __trap();
#endif
}
// Makes the initialised barriers visible to the async proxy (the TMA completes its bytes on them).
GE_DEVICE void ptx_fence_mbar_init() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}

// One arrival that also announces `bytes` the TMA will deliver to this barrier in the current phase.
GE_DEVICE void ptx_mbar_arrive_expect_tx(unsigned long long* bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(ptx_smem_addr(bar)), "r"(bytes) : "memory");
#else
    __trap();
#endif
}
GE_DEVICE void ptx_mbar_arrive(unsigned long long* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(ptx_smem_addr(bar)) : "memory");
#else
    __trap();
#endif
}
// Waits until the phase of parity `parity` has completed (a fresh barrier is in phase 0, so waiting with parity 1
// returns at once: what a producer does for slots that start empty).
GE_DEVICE void ptx_mbar_wait(unsigned long long* bar, unsigned parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // Labels are local to the { } block, so every inlined copy may use the same ones.
    asm volatile("{\n.reg .pred done;\nGE_MBAR_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra GE_MBAR_WAIT;\n}\n" ::"r"(ptx_smem_addr(bar)), "r"(parity) : "memory");
#else
    __trap();
#endif
}

// TMA tile loads into this CTA's shared memory, completing on `bar` with the bytes delivered. Coordinates are in
// elements, innermost first; boxes past the tensor's edges are zero-filled.
GE_DEVICE void ptx_tma_load_2d(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n"
                 ::"r"(ptx_smem_addr(dst)), "l"(ptx_param_addr(m)), "r"(ptx_smem_addr(bar)), "r"(c0), "r"(c1) : "memory");
#else
    __trap();
#endif
}
GE_DEVICE void ptx_tma_load_3d(void* dst, const ge_tensor_map& m, unsigned long long* bar, int c0, int c1, int c2) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n"
                 ::"r"(ptx_smem_addr(dst)), "l"(ptx_param_addr(m)), "r"(ptx_smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2) : "memory");
#else
    __trap();
#endif
}
// Moves registers between the warpgroups of a warp-specialised kernel (the producer gives up what the MMA
// warpgroups' accumulators need). N is a multiple of 8 in [24, 256]; every warp of the warpgroup executes it.
template <int N> GE_DEVICE void ptx_setmaxnreg_dec() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}
template <int N> GE_DEVICE void ptx_setmaxnreg_inc() {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}

#endif  // GE_EMULATED_MMA

// ------------------------------------------------------------------ composites of the wrappers
// Built from the wrappers above, or from the emulation's under GE_EMULATED_MMA, so the kernels share them in both.

// The kernel's dynamic shared memory from its first 1024-byte boundary, where the 128-byte swizzle's 8-row atoms (wgmma
// operands, TMA boxes) must start; a launch asks for 1 KiB more than its rings to leave room.
GE_DEVICE unsigned char* ptx_dynamic_smem_1024() {
#ifdef GE_EMULATED_MMA
    unsigned char* dyn = ge_emulated_dynamic_smem();
#else
    extern __shared__ unsigned char ge_dynamic_smem[];
    unsigned char* dyn = ge_dynamic_smem;
#endif
    return dyn + ((1024 - (ptx_smem_addr(dyn) & 1023)) & 1023);
}

// One 128-byte K tile (64 halfs, or 128 int8 codes) of a warpgroup's MMAs as one committed wgmma group: A (64 rows) and
// B (N rows) K-major in 128-byte-swizzled shared memory at shared-window addresses a and b, four 32-byte K steps, the
// accumulators pinned around the issue. The caller waits for the group (ptx_wgmma_wait_group) before reusing the tiles.
template <typename T, int N> GE_DEVICE void ptx_wgmma_k_tile(float* acc, unsigned a, unsigned b) {
    ptx_wgmma_fence_operands<N / 2>(acc);
    ptx_wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
        ptx_wgmma_m64k16<T, N>(acc, ptx_wgmma_desc_sw128(a + ks * 32), ptx_wgmma_desc_sw128(b + ks * 32), 1);
    ptx_wgmma_commit_group();
}
// The same for int8 codes on both sides: m64n256k32 s8 with int32 accumulators.
GE_DEVICE void ptx_wgmma_k_tile_s8(int* acc, unsigned a, unsigned b) {
    ptx_wgmma_fence_operands<128>(acc);
    ptx_wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
        ptx_wgmma_m64n256k32_s8(acc, ptx_wgmma_desc_sw128(a + ks * 32), ptx_wgmma_desc_sw128(b + ks * 32), 1);
    ptx_wgmma_commit_group();
}

// Frees a ring slot (lane 0 arrives on its empty barrier) once every lane of the warp is past its wait on the slot's
// full barrier: a warpgroup without rows issues no wgmma to converge its warps, and a lane left two phases behind
// would read the barrier's parity as current. Every lane of the warp calls it.
GE_DEVICE void ptx_ring_free(unsigned long long* empty_bar, int lane) {
    __syncwarp();
    if (lane == 0) ptx_mbar_arrive(empty_bar);
}
