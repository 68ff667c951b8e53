// Group GEMM kernels (native/moe/group_gemm.cu, moe/group_gemm_wgmma.cu, moe/group_gemm_tma.cu, moe/wi4a16_group_gemm.cu) under host
// emulation against a float64 product with the kernel's own semantics: every mode, both layouts, tails, BM/BK
// variants, and the fused SwiGLU epilogue (gate and up sums rounded to bf16, silu(g) * u, rounded once).
#include "moe/group_gemm.cu"
#include "moe/group_gemm_wgmma.cu"
#include "moe/group_gemm_tma.cu"
#include "moe/wi4a16_group_gemm.cu"
#include <cstdio>
#include <random>
// Reference with the kernel's semantics: values decoded exactly, scales applied per group, fp32/f64 sum.
static std::mt19937 rng(5);
static unsigned short f2bf(float f) { return __float2bfloat16_rn(f).x; }
static float bf2f(unsigned short b) { return __bfloat162float(__nv_bfloat16{b}); }
static float urand() { return std::uniform_real_distribution<float>(-1, 1)(rng); }

// STAGES = 0: the register-staged group_gemm (BN 64, 128 threads); > 0: group_gemm_pipe with BN, STAGES,
// WM x WN warps and decode slices of KS (dynamic shared memory); WG 1: group_gemm_wgmma (half weights only) with
// BM, BN, STAGES; WG 2: group_gemm_tma (half weights) or group_gemm_tma_int (integer codes:
// per channel at BN 256, grouped at BN 128) with BN, STAGES (BM 128, persistent CTAs).
// SW: the fused SwiGLU epilogue, C = [rows, N / 2].
template <int WMODE, int BM, int BK, int BN = 64, int STAGES = 0, int WM = 1, int WN = 1, int KS = BK, int SW = 0, int WG = 0>
int run(int E, int N, int K, int G, bool padded, int P, std::vector<int> counts, double bound = 4e-3) {
    const int NC = SW ? N / 2 : N, CB = SW ? BN / 2 : BN;   // columns of C, and per block
    int groups = (WMODE >= 2 && G < K) || WMODE == 3 ? K / G : 1;
    int gsz = groups == 1 && WMODE != 3 ? (1 << 30) : G;
    if (WMODE == GG_HALF) { groups = 1; }
    int total = 0; for (int c : counts) total += c;
    int rows = padded ? E * P : total;
    std::vector<unsigned short> A((size_t)rows * K), C((size_t)rows * NC, 0x7fff);
    for (auto& a : A) a = f2bf(urand());
    std::vector<int> off;
    if (padded) off = counts; else { off.push_back(0); for (int c : counts) off.push_back(off.back() + c); }
    // weights
    size_t bytesPer = WMODE == 0 ? (size_t)N * K * 2 : WMODE == 1 ? (size_t)N * K : (size_t)N * K / 2;
    std::vector<unsigned char> W(bytesPer * E);
    std::vector<float> vals((size_t)E * N * K), S((size_t)E * N * groups), Z((size_t)E * N * groups, 8.0f);
    for (auto& s : S) s = 0.01f + 0.1f * std::fabs(urand());
    for (int e = 0; e < E; ++e)
        for (int n = 0; n < N; ++n)
            for (int k = 0; k < K; ++k) {
                size_t idx = ((size_t)e * N + n) * K + k;
                if (WMODE == 0) { unsigned short b = f2bf(urand()); memcpy(&W[idx * 2], &b, 2); vals[idx] = bf2f(b); }
                else if (WMODE == 1) { int q = (int)(rng() % 255) - 127; W[idx] = (unsigned char)(signed char)q; vals[idx] = (float)q; }
                else { int q = (int)(rng() % 16); unsigned char& byte = W[idx / 2]; byte = (k & 1) ? (byte & 0x0f) | (q << 4) : (byte & 0xf0) | q;
                       vals[idx] = WMODE == 2 ? (float)(q >= 8 ? q - 16 : q) : (float)q - 8.0f; }
            }
    if constexpr (WMODE == 3) {
        std::vector<int4> tiles;
        for (int e = 0; e < E; ++e) { int b = padded ? e * P : off[e]; int c = counts[e]; for (int m = 0; m < c; m += BM) tiles.push_back({e, b + m, b + std::min(m + BM, c), 0}); }
        static_assert(SW == 0, "wi4a16 keeps the separate SwiGLU");
        launch((N + 63) / 64, tiles.size(), 128, [&] { wi4a16_group_gemm<__nv_bfloat16, BM, BK>(A.data(), W.data(), S.data(), Z.data(), tiles.data(), C.data(), N, K, G, groups); });
    } else {
        long perExpert = ((padded ? P : total) + BM - 1) / BM;
        long ty = padded ? perExpert * E : std::min(perExpert + E, perExpert * E);
        const float* sc = WMODE == 0 ? nullptr : S.data();
        if constexpr (WG == 2) {
            static_assert(BM == 128, "the TMA kernels take 128-row tiles");
            const int cols = (NC + CB - 1) / CB, tiles = (int)ty * cols;
            ge_tensor_map am{reinterpret_cast<const unsigned char*>(A.data()), 2, {K, rows, 1}, {2, 2LL * K, 0}, {64, 128, 1}, 2};
            // Fewer persistent CTAs than tiles, so each walks several and the ring runs on across them.
            const int ctas = std::min(tiles, 3);
            if constexpr (WMODE == 0) {
                ge_tensor_map wm{W.data(), 3, {K, N, E}, {2, 2LL * K, 2LL * K * N}, {64, BN / 2, 1}, 2};
                launch(ctas, 1, GT_THREADS, [&] {
                    group_gemm_tma<__nv_bfloat16, BN, STAGES, SW>(am, wm, off.data(), C.data(), E, N, K, padded ? P : 0, cols, tiles);
                });
            } else {
                // The codes as a byte tensor [E, N, row bytes], boxes of one K tile's codes, no swizzle.
                constexpr int grouped = BN == 128;
                if ((gsz < K) != grouped) { printf("tma int: BN 128 is the grouped form, 256 per channel\n"); return 1; }
                const long long rb = WMODE == GG_INT8 ? K : K / 2;
                ge_tensor_map wm{W.data(), 3, {rb, N, E}, {1, rb, rb * N}, {WMODE == GG_INT8 ? 64 : 32, BN / 2, 1}, 1, 0};
                launch(ctas, 1, GT_THREADS, [&] {
                    group_gemm_tma_int<__nv_bfloat16, WMODE, grouped, BN, STAGES, SW>(am, wm, sc, off.data(), C.data(), E, N, K, gsz, groups, padded ? P : 0, cols, tiles);
                });
            }
        } else if constexpr (WG) {
            static_assert(WMODE == 0, "the cp.async wgmma kernel takes half weights");
            launch((NC + CB - 1) / CB, ty, 2 * BM, [&] { group_gemm_wgmma<__nv_bfloat16, BM, BN, STAGES, SW>(A.data(), W.data(), sc, off.data(), C.data(), E, N, K, gsz, groups, padded ? P : 0); });
        } else if constexpr (STAGES == 0)
            launch((NC + CB - 1) / CB, ty, 128, [&] { group_gemm<__nv_bfloat16, WMODE, BM, BK, SW>(A.data(), W.data(), sc, off.data(), C.data(), E, N, K, gsz, groups, padded ? P : 0); });
        else {
            static_assert(gp_smem<WMODE, BM, BN, BK, KS, STAGES>::bytes <= (int)sizeof g_dyn_smem, "emulated shared memory");
            auto body = [&] {
                if (gsz < K) group_gemm_pipe<__nv_bfloat16, WMODE, 1, BM, BN, BK, KS, STAGES, WM, WN, 1, SW>(A.data(), W.data(), S.data(), off.data(), C.data(), E, N, K, gsz, groups, padded ? P : 0);
                else group_gemm_pipe<__nv_bfloat16, WMODE, 0, BM, BN, BK, KS, STAGES, WM, WN, 1, SW>(A.data(), W.data(), sc, off.data(), C.data(), E, N, K, gsz, groups, padded ? P : 0);
            };
            launch((NC + CB - 1) / CB, ty, 32 * WM * WN, body);
        }
    }
    double num = 0, den = 0; int bad = 0, unwritten = 0;
    auto product = [&](int e, int r, int n) {
        double acc = 0;
        for (int g = 0; g < groups; ++g) {
            double part = 0;
            int k0 = groups == 1 ? 0 : g * G, k1 = groups == 1 ? K : k0 + G;
            for (int k = k0; k < k1; ++k) part += (double)bf2f(A[(size_t)r * K + k]) * vals[((size_t)e * N + n) * K + k];
            acc += part * (WMODE == 0 ? 1.0 : S[((size_t)e * N + n) * groups + g]);
        }
        return acc;
    };
    for (int e = 0; e < E; ++e) {
        int b = padded ? e * P : off[e];
        for (int r = b; r < b + counts[e]; ++r)
            for (int n = 0; n < NC; ++n) {
                double acc = product(e, r, n);
                if (SW) {
                    // Gate column n and up column NC + n, each rounded to bf16 as the epilogue rounds them.
                    double g = bf2f(f2bf((float)acc)), u = bf2f(f2bf((float)product(e, r, NC + n)));
                    acc = g / (1 + std::exp(-g)) * u;
                }
                float got = bf2f(C[(size_t)r * NC + n]);
                if (std::isnan(got)) { unwritten++; continue; }
                num += (got - acc) * (got - acc); den += acc * acc;
            }
        if (padded) for (int r = b + counts[e]; r < b + P; ++r) if (!std::isnan(bf2f(C[(size_t)r * NC]))) bad++;
    }
    double err = std::sqrt(num / den);
    printf("%s%s mode %d BM %d BK %d BN %d E %d N %d K %d G %d %s: rel err %.2e unwritten %d written-past-count %d\n", WG == 2 ? "tma" : WG ? "wgmma" : STAGES ? "pipe" : "tile",
           SW ? " swiglu" : "", WMODE, BM, BK, BN, E, N, K, G, padded ? "padded" : "prefix", err, unwritten, bad);
    return err < bound && unwritten == 0 && bad == 0 ? 0 : 1;
}


// Quantizers against the host rule of ExpertWeightMath.QuantizeSegment (scale = max|w| / qmax,
// q = round-half-even(w / scale) clamped), byte for byte. mode: 1 int8, 2 int4, 3 wi4a16.
int quant(int mode, long long rows, int K, int G) {
    int groups = K / G, qmax = mode == 1 ? 127 : 7;
    std::vector<__nv_bfloat16> w((size_t)rows * K);
    for (auto& v : w) v = __float2bfloat16_rn(urand());
    size_t qbytes = mode == 1 ? (size_t)rows * K : (size_t)rows * K / 2;
    std::vector<unsigned char> q(qbytes, 0xAA), hq(qbytes, 0);
    std::vector<float> s((size_t)rows * groups, -1), z((size_t)rows * groups, -1), hs((size_t)rows * groups);
    long long segs = rows * groups;
    unsigned blocks = (unsigned)((segs + 7) / 8);
    if (mode == 3) launch(blocks, 1, 256, [&] { wi4a16_quantize<__nv_bfloat16>(w.data(), q.data(), s.data(), z.data(), rows, K, G); });
    else launch(blocks, 1, 256, [&] { quantize_experts<__nv_bfloat16>(w.data(), q.data(), s.data(), nullptr, rows, K, G, groups, qmax, mode == 1, 0); });
    for (long long r = 0; r < rows; ++r)
        for (int g = 0; g < groups; ++g) {
            float mx = 0;
            for (int k = g * G; k < (g + 1) * G; ++k) mx = std::fmax(mx, std::fabs(__bfloat162float(w[r * K + k])));
            float sc = mx / (float)qmax;
            hs[r * groups + g] = sc;
            for (int k = g * G; k < (g + 1) * G; ++k) {
                float v = sc > 0 ? std::nearbyint(__bfloat162float(w[r * K + k]) / sc) : 0.0f;
                int qi = (int)std::fmin(std::fmax(v, (float)-qmax), (float)qmax);
                if (mode == 1) hq[r * K + k] = (unsigned char)(signed char)qi;
                else { int nib = (qi + (mode == 3 ? 8 : 0)) & 15; unsigned char& b = hq[(r * K + k) / 2]; b = (k & 1) ? (b & 0x0f) | (nib << 4) : (b & 0xf0) | nib; }
            }
        }
    int bad = (q != hq) + (s != hs) + (mode == 3 && std::any_of(z.begin(), z.end(), [](float v) { return v != 8.0f; }));
    printf("quantize mode %d rows %lld K %d G %d: mismatching tensors %d\n", mode, rows, K, G, bad);
    return bad;
}

// The fast decoders against the plain ones, every code, both activation types.
template <typename T, int WMODE>
int decode_check_one() {
    int bad = 0;
    for (unsigned v = 0; v < 256; ++v) {
        unsigned w = v * 0x01010101u ^ 0x5a3c0f00u;   // every byte value in every position over the loop
        uint4 raw = make_uint4(w, w * 2654435761u, 0, 0);
        uint4 slow = ge_decode_w8<T, WMODE>(raw, 0.0f), fast = ge_decode_fast8<T, WMODE>(raw.x, raw.y);
        bad += slow.x != fast.x || slow.y != fast.y || slow.z != fast.z || slow.w != fast.w;
    }
    return bad;
}
int decode_check() {
    int bad = decode_check_one<__nv_bfloat16, GG_INT8>() + decode_check_one<__half, GG_INT8>() +
              decode_check_one<__nv_bfloat16, GG_INT4>() + decode_check_one<__half, GG_INT4>();
    printf("fast decode vs plain decode: %d mismatching words\n", bad);
    return bad != 0;
}

int main() {
    int fails = 0;
    GE_EMU_COUNT(fails, quant(1, 6, 70, 70));
    GE_EMU_COUNT(fails, quant(1, 3, 69, 69));   // odd int8 row
    GE_EMU_COUNT(fails, quant(2, 6, 64, 64));
    GE_EMU_COUNT(fails, quant(2, 5, 256, 128));
    GE_EMU_COUNT(fails, quant(3, 5, 256, 128));
    GE_EMU_COUNT(fails, run<0, 16, 64>(3, 70, 70, 0, false, 0, {3, 0, 17}));       // scalar path (K % 8 != 0), N tail
    GE_EMU_COUNT(fails, run<0, 16, 128>(3, 70, 300, 0, false, 0, {3, 0, 17}));     // BK 128, K tail inside a tile
    GE_EMU_COUNT(fails, run<1, 16, 128>(2, 72, 260, 0, true, 20, {20, 7}));        // int8 BK 128 padded
    GE_EMU_COUNT(fails, run<0, 64, 64>(3, 130, 136, 0, false, 0, {70, 0, 5}));     // vec path, two M tiles
    GE_EMU_COUNT(fails, run<0, 16, 64>(3, 64, 128, 0, true, 20, {3, 0, 20}));      // padded
    GE_EMU_COUNT(fails, run<1, 16, 64>(2, 72, 200, 0, false, 0, {5, 9}));          // int8, K tail with vec
    GE_EMU_COUNT(fails, run<1, 64, 64>(2, 72, 66, 0, true, 70, {65, 1}));          // int8 scalar, padded
    GE_EMU_COUNT(fails, run<2, 16, 128>(3, 64, 256, 128, false, 0, {4, 0, 16}));   // int4 g128, BK 128
    GE_EMU_COUNT(fails, run<2, 16, 128>(2, 40, 200, 1 << 30, false, 0, {3, 2}));   // int4 per-channel, BK 128, K tail
    GE_EMU_COUNT(fails, run<2, 64, 64>(2, 64, 192, 64, true, 70, {66, 3}));        // int4 g64 BK 64 padded
    GE_EMU_COUNT(fails, run<3, 16, 128>(3, 64, 256, 128, false, 0, {5, 0, 18}));   // wi4a16
    GE_EMU_COUNT(fails, run<3, 64, 64>(2, 72, 256, 128, true, 70, {67, 2}));       // wi4a16 BM 64 padded
    GE_EMU_COUNT(fails, decode_check());
    // A long K (256 K tiles) against the bound of the output's one bf16 rounding: rel err 1.59e-3 here, 2.75e-3 with the
    // accumulator rounded to fp16 between K tiles (1.63e-3 and 2.29e-3 at 128 tiles, too close to tell apart).
    GE_EMU_COUNT(fails, run<1, 16, 128, 64, 4, 1, 4, 128>(1, 64, 32768, 0, false, 0, {16}, 2.2e-3));
    // Pipelined variants (K % BK == 0, BK % KS == 0, group % KS == 0, as the launcher requires): N tails,
    // empty experts, several M tiles per expert, more K tiles than stages and fewer, several decode
    // slices per stage with group ends inside a stage, both layouts. The launcher's configurations first.
    GE_EMU_COUNT(fails, run<0, 128, 64, 128, 3, 2, 4>(3, 136, 192, 0, false, 0, {130, 0, 9}));          // bf16 L: 2 M tiles, N tail
    GE_EMU_COUNT(fails, run<0, 64, 128, 64, 3, 2, 2>(3, 200, 256, 0, true, 70, {65, 0, 3}));           // bf16 M padded, KT < stages
    GE_EMU_COUNT(fails, run<1, 128, 128, 128, 3, 2, 4, 64>(2, 128, 384, 0, false, 0, {140, 5}));       // int8 L per channel
    GE_EMU_COUNT(fails, run<2, 128, 128, 128, 3, 2, 4, 64>(2, 136, 256, 64, true, 130, {129, 4}));     // int4 g64 L padded
    GE_EMU_COUNT(fails, run<1, 64, 128, 64, 3, 2, 2, 128>(2, 72, 256, 0, false, 0, {70, 33}));         // int8 M
    GE_EMU_COUNT(fails, run<2, 64, 256, 64, 3, 2, 2, 128>(2, 136, 512, 128, false, 0, {70, 33}));      // int4 g128 M, 2 slices/stage
    GE_EMU_COUNT(fails, run<1, 16, 128, 64, 4, 1, 4, 128>(3, 72, 384, 0, true, 20, {20, 0, 7}));       // int8 S padded, N tail
    GE_EMU_COUNT(fails, run<2, 16, 256, 64, 4, 1, 4, 128>(3, 256, 768, 128, false, 0, {4, 0, 16}));    // int4 g128 S
    GE_EMU_COUNT(fails, run<2, 16, 256, 64, 4, 1, 4, 128>(2, 64, 256, 1 << 30, false, 0, {3, 2}));     // int4 per channel S, KT = 1
    GE_EMU_COUNT(fails, run<2, 16, 512, 128, 3, 1, 8, 128>(2, 128, 1024, 128, true, 16, {16, 5}));     // int4 S, 4 slices/stage
    GE_EMU_COUNT(fails, run<0, 16, 64, 128, 4, 1, 8>(3, 130, 320, 0, false, 0, {3, 0, 17}));           // bf16 S, 256 threads
    GE_EMU_COUNT(fails, run<2, 64, 256, 128, 3, 2, 4, 128>(2, 136, 512, 128, true, 70, {64, 9}));      // int4 M 8 warps
    GE_EMU_COUNT(fails, run<0, 16, 128, 64, 4, 1, 4>(3, 70, 384, 0, true, 16, {16, 0, 2}));            // bf16 S 4 warps
    GE_EMU_COUNT(fails, run<0, 64, 128, 128, 3, 2, 4>(2, 128, 512, 0, false, 0, {64, 30}));            // bf16 M 8 warps
    GE_EMU_COUNT(fails, run<2, 128, 128, 128, 3, 2, 4, 128>(2, 136, 512, 128, false, 0, {131, 20}));   // int4 g128 L, slice 128
    GE_EMU_COUNT(fails, run<1, 16, 128, 128, 3, 1, 8, 128>(3, 200, 384, 0, true, 16, {16, 0, 3}));     // int8 S 8 warps
    GE_EMU_COUNT(fails, run<2, 16, 256, 128, 3, 1, 8, 128>(3, 136, 768, 128, false, 0, {2, 0, 17}));   // int4 S 8 warps
    // The wgmma kernels (the launcher's tiles: 64 x 128 x 4 and 128 x 256 x 4 for half weights, 64 / 128 x 128 x 4 for
    // int8) and the fused SwiGLU epilogue on every kernel family: odd F (N = 2F) with a tail inside a block, several
    // column blocks, empty experts, both layouts, per-channel and grouped scales. The plain ones run more K tiles than
    // the ring has stages, so its refills reuse slots the MMAs read (run at their latest here: emu_cuda.h, wgmma).
    GE_EMU_COUNT(fails, run<0, 64, 64, 128, 4, 1, 1, 64, 0, 1>(3, 200, 392, 0, false, 0, {70, 0, 9}));      // wgmma bf16 M, N and K tails
    GE_EMU_COUNT(fails, run<0, 128, 64, 256, 4, 1, 1, 64, 0, 1>(2, 264, 456, 0, true, 140, {130, 7}));     // wgmma bf16 L padded, K tail
    GE_EMU_COUNT(fails, run<0, 64, 64, 128, 4, 1, 1, 64, 1, 1>(3, 2 * 75, 136, 0, false, 0, {70, 0, 9}));   // wgmma bf16 swiglu, F = 75
    GE_EMU_COUNT(fails, run<0, 128, 64, 256, 4, 1, 1, 64, 1, 1>(2, 2 * 150, 200, 0, true, 140, {130, 7}));  // wgmma bf16 L swiglu padded, F = 150
    GE_EMU_COUNT(fails, run<0, 16, 64, 64, 0, 1, 1, 64, 1>(3, 2 * 35, 70, 0, false, 0, {3, 0, 17}));        // tile BM 16 swiglu, scalar K path
    GE_EMU_COUNT(fails, run<0, 64, 64, 64, 0, 1, 1, 64, 1>(3, 2 * 65, 136, 0, true, 70, {66, 0, 5}));       // tile BM 64 swiglu padded
    GE_EMU_COUNT(fails, run<1, 16, 128, 64, 0, 1, 1, 128, 1>(2, 2 * 36, 260, 0, true, 20, {20, 7}));        // tile int8 swiglu
    GE_EMU_COUNT(fails, run<2, 16, 128, 64, 0, 1, 1, 128, 1>(3, 2 * 32, 256, 128, false, 0, {4, 0, 16}));   // tile int4 g128 swiglu
    GE_EMU_COUNT(fails, run<0, 128, 64, 128, 3, 2, 4, 64, 1>(3, 2 * 68, 192, 0, false, 0, {130, 0, 9}));     // pipe bf16 L swiglu
    GE_EMU_COUNT(fails, run<0, 64, 128, 64, 3, 2, 2, 128, 1>(3, 2 * 101, 256, 0, true, 70, {65, 0, 3}));     // pipe bf16 M swiglu padded, F = 101
    GE_EMU_COUNT(fails, run<1, 128, 128, 128, 3, 2, 4, 64, 1>(2, 2 * 64, 384, 0, false, 0, {140, 5}));       // pipe int8 L per channel swiglu
    GE_EMU_COUNT(fails, run<2, 128, 128, 128, 3, 2, 4, 64, 1>(2, 2 * 68, 256, 64, true, 130, {129, 4}));     // pipe int4 g64 L swiglu padded
    GE_EMU_COUNT(fails, run<1, 16, 128, 128, 3, 1, 8, 128, 1>(3, 2 * 100, 384, 0, true, 16, {16, 0, 3}));    // pipe int8 S swiglu
    GE_EMU_COUNT(fails, run<2, 16, 256, 128, 3, 1, 8, 128, 1>(3, 2 * 68, 768, 128, false, 0, {2, 0, 17}));   // pipe int4 g128 S swiglu
    GE_EMU_COUNT(fails, run<2, 64, 256, 128, 3, 2, 4, 128, 1>(2, 2 * 68, 512, 1 << 30, false, 0, {64, 9}));  // pipe int4 per channel M swiglu
    // The TMA warp-specialised persistent kernel (the launcher's 128 x 256 x 4, and a 128-wide form):
    // each CTA walks several tiles, empty experts, N and K tails, more K tiles than stages, both layouts, SwiGLU.
    GE_EMU_COUNT(fails, run<0, 128, 64, 256, 4, 1, 1, 64, 0, 2>(3, 264, 200, 0, false, 0, {130, 0, 300}));        // tma, N + K tails
    GE_EMU_COUNT(fails, run<0, 128, 64, 256, 4, 1, 1, 64, 1, 2>(2, 2 * 150, 520, 0, true, 300, {290, 7}));        // tma swiglu padded
    GE_EMU_COUNT(fails, run<0, 128, 64, 256, 4, 1, 1, 64, 0, 2>(3, 264, 328, 0, true, 140, {130, 0, 9}));         // tma padded
    GE_EMU_COUNT(fails, run<0, 128, 64, 128, 6, 1, 1, 64, 1, 2>(3, 2 * 75, 136, 0, false, 0, {129, 0, 5}));       // tma BN 128 swiglu
    GE_EMU_COUNT(fails, run<0, 128, 64, 128, 6, 1, 1, 64, 0, 2>(2, 136, 520, 0, false, 0, {257, 64}));            // tma BN 128, 9 K tiles
    // The TMA kernel for integer codes (the launcher's int8 / int4 per channel at 128 x 256 x 4, int4 grouped at 128 x 128 x 4):
    // odd F with SwiGLU, K tails (K % 64 != 0 where the format allows one), empty experts, several tiles per CTA, more K
    // tiles than stages, group ends inside the ring, both layouts.
    GE_EMU_COUNT(fails, run<1, 128, 64, 256, 4, 1, 1, 64, 0, 2>(3, 264, 208, 0, false, 0, {130, 0, 300}));          // tma int8, N + K tails
    GE_EMU_COUNT(fails, run<1, 128, 64, 256, 4, 1, 1, 64, 1, 2>(2, 2 * 139, 520, 0, true, 300, {290, 7}));          // tma int8 swiglu padded, F = 139
    GE_EMU_COUNT(fails, run<1, 128, 64, 256, 4, 1, 1, 64, 1, 2>(3, 2 * 75, 336, 0, false, 0, {129, 0, 5}));         // tma int8 swiglu, F = 75
    GE_EMU_COUNT(fails, run<1, 128, 64, 256, 2, 1, 1, 64, 0, 2>(2, 136, 576, 0, true, 140, {129, 64}));             // tma int8 two stages, padded
    GE_EMU_COUNT(fails, run<2, 128, 64, 256, 4, 1, 1, 64, 0, 2>(3, 264, 224, 1 << 30, false, 0, {130, 0, 9}));      // tma int4 per channel, K tail
    GE_EMU_COUNT(fails, run<2, 128, 64, 256, 4, 1, 1, 64, 1, 2>(2, 2 * 139, 384, 1 << 30, true, 140, {139, 0}));   // tma int4 per channel swiglu padded
    GE_EMU_COUNT(fails, run<2, 128, 64, 128, 4, 1, 1, 64, 0, 2>(3, 136, 512, 128, false, 0, {130, 0, 257}));        // tma int4 g128, N tail
    GE_EMU_COUNT(fails, run<2, 128, 64, 128, 4, 1, 1, 64, 1, 2>(2, 2 * 69, 384, 64, true, 200, {193, 3}));          // tma int4 g64 swiglu padded, F = 69
    GE_EMU_COUNT(fails, run<2, 128, 64, 128, 3, 1, 1, 64, 1, 2>(3, 2 * 75, 256, 128, false, 0, {0, 129, 5}));      // tma int4 g128 swiglu, 3 stages
    printf("%d failed\n", fails);
    return fails;
}
