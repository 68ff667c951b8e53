// The w8a8 / w4a8 kernels (native/quant/int8_quant.cu, native/gemm/int8_act_gemm.cu, native/moe/int8_act_group_gemm.cu,
// native/gemm/int8_scale_epilogue.cu, native/gemm/int8_act_tma.cu)
// under host emulation:
// the quantizer byte for byte against the host rule, the GEMM bit for bit against the kernel's definition
// (exact int32 sums, fp32 scales in the written order) and within 1e-2 of float64 on the same codes, every
// weight format and scale grouping, both tile shapes the launcher picks and the few-row streaming kernel, N tails,
// padded rows left unwritten.
#include "quant/int8_quant.cu"
#include "gemm/int8_act_gemm.cu"
#include "gemm/int8_act_stream.cu"
#include "moe/int8_act_group_gemm.cu"
#include "gemm/int8_scale_epilogue.cu"
#include "gemm/int8_act_tma.cu"
#include <cstdio>
#include <random>
static std::mt19937 rng(17);
static float urand() { return std::uniform_real_distribution<float>(-1, 1)(rng); }
static float bf2f(unsigned short b) { return __bfloat162float(__nv_bfloat16{b}); }
static int pad128(int v) { return (v + 127) / 128 * 128; }

// Unwritten output: a NaN payload no conversion makes (NaN results round to the canonical 0x7fff), so a row stored with a
// NaN scale past the count still shows as written.
constexpr unsigned short kUnwritten = 0x7fa5;

// A kernel's output C [rows, n] against its definition. C starts as the kUnwritten sentinel: rows with live(r) false must
// keep it, every other element must be written with the bits expect(r, j) gives (the definition's one rounding), and
// within the float64 value it also gives (relative Frobenius error over those elements; decode reads C's bits).
struct OutputScan {
    int mismatch = 0, unwritten = 0, past = 0;
    double num = 0, den = 0;
    double err() const { return den > 0 ? std::sqrt(num / den) : 0; }
};
template <class Live, class Expect, class Decode>
static OutputScan scan_output(const std::vector<unsigned short>& C, int rows, int n, Live live, Expect expect, Decode decode) {
    OutputScan o;
    for (int r = 0; r < rows; ++r)
        for (int j = 0; j < n; ++j) {
            const unsigned short got = C[(size_t)r * n + j];
            if (!live(r)) { o.past += got != kUnwritten; continue; }
            if (got == kUnwritten) { o.unwritten++; continue; }
            const auto [bits, exact] = expect(r, j);
            o.mismatch += bits != got;
            const double d = decode(got) - exact;
            o.num += d * d;
            o.den += exact * exact;
        }
    return o;
}

template <bool VEC>
int quant(int rows, int valid, int k) {
    int kp = pad128(k);
    std::vector<__nv_bfloat16> x((size_t)rows * k);
    for (size_t i = 0; i < x.size(); ++i) x[i] = __float2bfloat16_rn(urand() * (1 + (int)(i / k) % 3));
    for (int c = 0; c < k; ++c) x[c] = __float2bfloat16_rn(0.0f);   // row 0 all zeros: scale 0, q 0
    std::vector<signed char> q((size_t)rows * kp, 0x55);
    std::vector<float> s(rows, -1.0f);
    int count = valid;
    launch(rows, 1, I8Q_THREADS, [&] { int8_quant_act_per_token<__nv_bfloat16, VEC>(x.data(), q.data(), s.data(), rows, k, kp, &count); });
    int bad = 0;
    for (int r = 0; r < rows; ++r) {
        if (r >= valid) { bad += s[r] != -1.0f || q[(size_t)r * kp] != 0x55; continue; }
        float amax = 0;
        for (int c = 0; c < k; ++c) amax = std::fmax(amax, std::fabs(__bfloat162float(x[(size_t)r * k + c])));
        float sc = amax / 127.0f;
        bad += s[r] != sc;
        for (int c = 0; c < kp; ++c) {
            int v = 0;
            if (c < k && sc > 0) v = std::clamp((int)std::nearbyint(__bfloat162float(x[(size_t)r * k + c]) / sc), -127, 127);
            bad += q[(size_t)r * kp + c] != v;
        }
    }
    printf("int8 quant %s rows %d valid %d K %d: mismatches %d\n", VEC ? "vector" : "scalar", rows, valid, k, bad);
    return bad != 0;
}

// The Linear GEMM's operands and its output against the definition; `run` launches one kernel over them.
template <int W4, int GROUPED, class Run>
int gemm_with(const char* what, int rows, int valid, int n, int k, Run run) {
    int kp = pad128(k), np = pad128(n), groups = GROUPED ? kp / 128 : 1;
    std::vector<signed char> A((size_t)rows * kp, 0);
    std::vector<float> as(rows);
    for (int r = 0; r < rows; ++r) {
        as[r] = r < valid ? 0.001f + 0.01f * std::fabs(urand()) : NAN;
        for (int c = 0; c < kp; ++c) A[(size_t)r * kp + c] = c < k ? (signed char)((int)(rng() % 255) - 127) : 0;
    }
    std::vector<int> q((size_t)np * kp, 0);   // logical weight codes, zero past N and K
    for (int j = 0; j < n; ++j)
        for (int c = 0; c < k; ++c) q[(size_t)j * kp + c] = W4 ? (int)(rng() % 16) - 8 : (int)(rng() % 255) - 127;
    std::vector<float> ws((size_t)groups * np, 0.0f);
    for (int gi = 0; gi < groups; ++gi) for (int j = 0; j < n; ++j) ws[(size_t)gi * np + j] = 0.001f + 0.01f * std::fabs(urand());
    std::vector<unsigned char> W(W4 ? (size_t)np * kp / 2 : (size_t)np * kp);
    for (int j = 0; j < np; ++j)
        for (int c = 0; c < kp; ++c) {
            int v = q[(size_t)j * kp + c];
            if (!W4) { W[(size_t)j * kp + c] = (unsigned char)(signed char)v; continue; }
            int step = c / 32, e = c % 32, b = e % 16;   // byte b of a 16-byte step: element b low, b + 16 high
            unsigned char& byte = W[(size_t)j * (kp / 2) + step * 16 + b];
            byte = e < 16 ? (byte & 0xf0) | (v & 15) : (byte & 0x0f) | ((v & 15) << 4);
        }
    std::vector<unsigned short> C((size_t)rows * n, kUnwritten);
    int count = valid;
    run(A.data(), as.data(), W.data(), ws.data(), (__nv_bfloat16*)C.data(), np, kp, &count);
    const auto o = scan_output(C, rows, n, [&](int r) { return r < valid; }, [&](int r, int j) {
        float f = 0;
        double exact = 0;
        for (int gi = 0; gi < groups; ++gi) {
            int part = 0;
            for (int c = gi * (kp / groups); c < (gi + 1) * (kp / groups); ++c) part += A[(size_t)r * kp + c] * q[(size_t)j * kp + c];
            if (GROUPED) f = std::fma((float)part, ws[(size_t)gi * np + j], f);
            else f = (float)part * ws[j];
            exact += (double)part * ws[(size_t)gi * np + j];
        }
        return std::pair<unsigned short, double>(__float2bfloat16_rn(f * as[r]).x, exact * as[r]);
    }, bf2f);
    const int mismatch = o.mismatch, unwritten = o.unwritten, past = o.past;
    const double err = o.err();
    printf("int8 %s W4 %d grouped %d rows %d valid %d N %d K %d: bit mismatches %d rel err %.2e unwritten %d written-past-count %d\n",
           what, W4, GROUPED, rows, valid, n, k, mismatch, err, unwritten, past);
    return mismatch == 0 && err < 1e-2 && unwritten == 0 && past == 0 ? 0 : 1;
}

template <int W4, int GROUPED, int BM, int BN, int WM, int WN, int STAGES>
int gemm(int rows, int valid, int n, int k) {
    constexpr int smem = STAGES * (BM * 128 + BN * (W4 ? 64 : 128));
    static_assert(smem <= (int)sizeof g_dyn_smem, "emulated shared memory");
    char what[48];
    snprintf(what, sizeof what, "gemm tile %dx%d", BM, BN);
    return gemm_with<W4, GROUPED>(what, rows, valid, n, k, [&](auto A, auto as, auto W, auto ws, auto C, int np, int kp, int* count) {
        launch(np / BN, (rows + BM - 1) / BM, WM * WN * 32, [&] {
            int8_act_gemm<__nv_bfloat16, W4, GROUPED, BM, BN, WM, WN, STAGES>(A, as, W, ws, C, rows, n, np, kp, count);
        });
    });
}

// The few-row streaming kernel: 8 weight rows and TOK token rows a block, four warps splitting K in batches of UNROLL.
template <int W4, int GROUPED, int TOK, int UNROLL>
int stream(int rows, int valid, int n, int k) {
    char what[32];
    snprintf(what, sizeof what, "stream tok %d", TOK);
    return gemm_with<W4, GROUPED>(what, rows, valid, n, k, [&](auto A, auto as, auto W, auto ws, auto C, int np, int kp, int* count) {
        static_assert(sizeof g_dyn_smem >= 64 * (512 + 32), "emulated shared memory: 64 groups");
        launch(np / I8S_COLS, (rows + TOK - 1) / TOK, I8S_THREADS, [&] {
            int8_act_stream<__nv_bfloat16, W4, GROUPED, TOK, UNROLL>(A, as, W, ws, C, rows, n, np, kp, count);
        });
    });
}

// Group GEMM: E experts with `counts` rows each, prefix sums or padded slabs of P rows; codes and scales random.
template <int W4, int GROUPED, int BM, int BN, int WM, int WN, int STAGES, int PREFIX>
int group(std::vector<int> counts, int P, int n, int k) {
    int E = (int)counts.size(), kp = pad128(k), np = pad128(n), groups = GROUPED ? kp / 128 : 1;
    std::vector<int> off, rowExpert;
    int total = 0;
    for (int c : counts) total += c;
    int rows = PREFIX ? total : E * P;
    if (PREFIX) { off.push_back(0); for (int c : counts) off.push_back(off.back() + c); } else off = counts;
    rowExpert.assign(rows, -1);
    for (int e = 0, r = 0; e < E; ++e)
        for (int i = 0; i < counts[e]; ++i) rowExpert[PREFIX ? r++ : e * P + i] = e;
    std::vector<signed char> A((size_t)rows * kp, 0);
    std::vector<float> as(rows);
    for (int r = 0; r < rows; ++r) {
        bool ok = rowExpert[r] >= 0;
        as[r] = ok ? 0.001f + 0.01f * std::fabs(urand()) : NAN;
        for (int c = 0; c < kp; ++c) A[(size_t)r * kp + c] = c < k || !ok ? (signed char)((int)(rng() % 255) - 127) : 0;
    }
    size_t rowBytes = W4 ? kp / 2 : kp;
    std::vector<int> q((size_t)E * np * kp, 0);
    std::vector<float> ws((size_t)E * groups * np, 0.0f);
    std::vector<unsigned char> W((size_t)E * np * rowBytes, 0);
    for (int e = 0; e < E; ++e) {
        for (int j = 0; j < n; ++j)
            for (int c = 0; c < k; ++c) {
                int v = W4 ? (int)(rng() % 16) - 8 : (int)(rng() % 255) - 127;
                q[((size_t)e * np + j) * kp + c] = v;
                if (!W4) { W[((size_t)e * np + j) * kp + c] = (unsigned char)(signed char)v; continue; }
                unsigned char& byte = W[((size_t)e * np + j) * rowBytes + c / 32 * 16 + c % 16];
                byte = c % 32 < 16 ? (byte & 0xf0) | (v & 15) : (byte & 0x0f) | ((v & 15) << 4);
            }
        for (int g = 0; g < groups; ++g) for (int j = 0; j < n; ++j) ws[((size_t)e * groups + g) * np + j] = 0.001f + 0.01f * std::fabs(urand());
    }
    std::vector<unsigned short> C((size_t)rows * n, kUnwritten);
    int rowsBound = PREFIX ? total : P;
    long perExpert = (rowsBound + BM - 1) / BM;
    long ty = PREFIX ? perExpert + E : perExpert * E;
    launch(np / BN, ty, WM * WN * 32, [&] {
        int8_act_group_gemm<__nv_bfloat16, W4, GROUPED, BM, BN, WM, WN, STAGES, PREFIX>(A.data(), as.data(), off.data(), W.data(), ws.data(),
            (__nv_bfloat16*)C.data(), E, rowsBound, rows, n, np, kp);
    });
    const auto o = scan_output(C, rows, n, [&](int r) { return rowExpert[r] >= 0; }, [&](int r, int j) {
        const int e = rowExpert[r];
        float f = 0;
        double exact = 0;
        for (int g = 0; g < groups; ++g) {
            int part = 0;
            for (int c = g * (kp / groups); c < (g + 1) * (kp / groups); ++c) part += A[(size_t)r * kp + c] * q[((size_t)e * np + j) * kp + c];
            float sc = ws[((size_t)e * groups + g) * np + j];
            f = GROUPED ? std::fma((float)part, sc, f) : (float)part * sc;
            exact += (double)part * sc;
        }
        return std::pair<unsigned short, double>(__float2bfloat16_rn(f * as[r]).x, exact * as[r]);
    }, bf2f);
    const int mismatch = o.mismatch, unwritten = o.unwritten, past = o.past;
    printf("int8 group gemm W4 %d grouped %d tile %dx%d %s E %d N %d K %d: bit mismatches %d unwritten %d written-outside-experts %d\n",
           W4, GROUPED, BM, BN, PREFIX ? "prefix" : "padded", E, n, k, mismatch, unwritten, past);
    return mismatch == 0 && unwritten == 0 && past == 0 ? 0 : 1;
}

// The IMMA path's epilogue: the per-channel formula on exact int32 sums, rows past the count untouched.
int epilogue(int rows, int valid, int n) {
    int np = pad128(n);
    std::vector<int> c32((size_t)rows * np);
    for (auto& v : c32) v = (int)(rng() % 4000001) - 2000000;
    std::vector<float> as(rows), ws(np, 0.0f);
    for (auto& v : as) v = 0.001f + 0.01f * std::fabs(urand());
    for (int j = 0; j < n; ++j) ws[j] = 0.001f + 0.01f * std::fabs(urand());
    std::vector<unsigned short> C((size_t)rows * n, kUnwritten);
    int count = valid;
    launch((n + 255) / 256, rows, 256, [&] { int8_scale_epilogue<__nv_bfloat16>(c32.data(), as.data(), ws.data(), (__nv_bfloat16*)C.data(), rows, n, np, &count); });
    int bad = 0;
    for (int r = 0; r < rows; ++r)
        for (int j = 0; j < n; ++j)
            bad += r < valid ? __float2bfloat16_rn((float)c32[(size_t)r * np + j] * ws[j] * as[r]).x != C[(size_t)r * n + j] : C[(size_t)r * n + j] != kUnwritten;
    printf("int8 scale epilogue rows %d valid %d N %d: mismatches %d\n", rows, valid, n, bad);
    return bad != 0;
}

// The Hopper TMA kernel on unpadded operands A [rows, K], W [n, K] (K a multiple of 16, the TMA's strides): bit for bit
// against the per-channel definition on int64 sums, within one output rounding of float64, every valid element written,
// rows at or past the count untouched; `ctas` persistent CTAs walk the tiles (fewer than tiles: several per CTA).
template <typename T>
int tma(int rows, int valid, int n, int k, int ctas) {
    constexpr bool bf16 = std::is_same_v<T, __nv_bfloat16>;
    std::vector<signed char> A((size_t)rows * k), W((size_t)n * k);
    for (auto& v : A) v = (signed char)((int)(rng() % 255) - 127);   // rows past the count hold codes too: never stored
    for (auto& v : W) v = (signed char)((int)(rng() % 255) - 127);
    std::vector<float> as(rows), ws(n);
    // Finite scales past the count: a stored padded row would then differ from the poison (a NaN one would round to it).
    for (int r = 0; r < rows; ++r) as[r] = r < valid ? 0.001f + 0.01f * std::fabs(urand()) : 1.0f;
    for (auto& v : ws) v = 0.001f + 0.01f * std::fabs(urand());
    std::vector<unsigned short> C((size_t)rows * n, kUnwritten);
    ge_tensor_map am{reinterpret_cast<const unsigned char*>(A.data()), 2, {k, rows, 1}, {1, k, 0}, {I8T_BK, I8T_BM, 1}, 1};
    ge_tensor_map wm{reinterpret_cast<const unsigned char*>(W.data()), 2, {k, n, 1}, {1, k, 0}, {I8T_BK, I8T_BN, 1}, 1};
    const int cols = (n + I8T_BN - 1) / I8T_BN;
    int count = valid;
    static_assert(4 * (I8T_A_STAGE + I8T_W_STAGE) + 64 + 1024 <= (int)sizeof g_dyn_smem, "emulated shared memory");
    launch(ctas, 1, I8T_THREADS, [&] { int8_act_tma<T, 4>(am, wm, as.data(), ws.data(), C.data(), rows, n, k, cols, &count); });
    const auto o = scan_output(C, rows, n, [&](int r) { return r < valid; }, [&](int r, int j) {
        long long sum = 0;
        for (int c = 0; c < k; ++c) sum += (long long)A[(size_t)r * k + c] * W[(size_t)j * k + c];
        const float f = (float)sum * ws[j] * as[r];
        return std::pair<unsigned short, double>(ge_emu_round(f, bf16), (double)sum * ws[j] * as[r]);
    }, [&](unsigned short got) { return (double)ge_emu_half(got, bf16); });
    const int mismatch = o.mismatch, unwritten = o.unwritten, past = o.past;
    // One output rounding: 2^-8 relative for bf16, 2^-11 for fp16 (the sums are exact, the two fp32 products add 2^-23).
    const double err = o.err(), bound = bf16 ? 1.0 / 256 : 1.0 / 2048;
    printf("int8 tma %s rows %d valid %d N %d K %d CTAs %d: bit mismatches %d rel err %.2e (bound %.1e) unwritten %d written-past-count %d\n",
           bf16 ? "bf16" : "fp16", rows, valid, n, k, ctas, mismatch, err, bound, unwritten, past);
    return mismatch == 0 && err <= bound && unwritten == 0 && past == 0 ? 0 : 1;
}

int main() {
    int fails = 0;
    GE_EMU_COUNT(fails, quant<false>(7, 5, 200));
    GE_EMU_COUNT(fails, quant<false>(3, 3, 1001));
    GE_EMU_COUNT(fails, quant<true>(7, 5, 200));      // fewer vectors than threads, K padded to 256
    GE_EMU_COUNT(fails, quant<true>(2, 2, 17000));    // past the held vectors: the rest read again
    // The launcher's two tiles: large 64 x 128 (8 warps, 3 stages), small 16 x 32 (4 warps, 8 stages).
    GE_EMU_COUNT(fails, gemm<0, 0, 64, 128, 2, 4, 3>(83, 70, 136, 200));     // w8a8, N and K tails, two M tiles
    GE_EMU_COUNT(fails, gemm<1, 0, 64, 128, 2, 4, 3>(70, 66, 130, 520));     // w4a8 per channel, more K blocks than stages
    GE_EMU_COUNT(fails, gemm<1, 1, 64, 128, 2, 4, 3>(65, 65, 136, 384));     // w4a8 g128
    GE_EMU_COUNT(fails, gemm<0, 0, 16, 32, 1, 4, 8>(9, 7, 72, 136));         // small tile: w8a8
    GE_EMU_COUNT(fails, gemm<1, 0, 16, 32, 1, 4, 8>(16, 16, 40, 264));       // small tile: w4a8 per channel
    GE_EMU_COUNT(fails, gemm<1, 1, 16, 32, 1, 4, 8>(17, 13, 96, 640));       // small tile: w4a8 g128, two M tiles
    GE_EMU_COUNT(fails, gemm<0, 0, 64, 128, 2, 4, 3>(5, 5, 136, 128));       // one K block (fewer than the stages)
    // The streaming kernel: fewer chunks than warps, several batches per warp, ragged warp ranges, 8- and 16-row token
    // tiles (several of them), one valid row of sixteen, a zero token count.
    GE_EMU_COUNT(fails, stream<0, 0, 16, 8>(1, 1, 72, 200));               // w8a8, N tail, 4 chunks of 64
    GE_EMU_COUNT(fails, stream<0, 0, 8, 12>(5, 5, 72, 200));               // w8a8, 8-row tile
    GE_EMU_COUNT(fails, stream<0, 0, 16, 4>(16, 11, 40, 2000));            // w8a8, 32 chunks: 2 batches of 4 a warp
    GE_EMU_COUNT(fails, stream<0, 0, 8, 3>(19, 17, 40, 2000));             // w8a8, three 8-row tiles, batches of 3
    GE_EMU_COUNT(fails, stream<1, 0, 16, 4>(9, 9, 136, 2304));             // w4a8 per channel, 18 chunks: 5 + 5 + 5 + 3
    GE_EMU_COUNT(fails, stream<1, 0, 8, 8>(8, 8, 136, 2304));              // w4a8 per channel, 8-row tile
    GE_EMU_COUNT(fails, stream<1, 1, 16, 4>(16, 1, 96, 3072));             // w4a8 g128: 24 groups chained in order
    GE_EMU_COUNT(fails, stream<1, 1, 8, 8>(8, 3, 96, 3072));               // g128, 8-row tile
    GE_EMU_COUNT(fails, stream<1, 1, 16, 2>(21, 19, 40, 1280));            // g128, 10 groups, batches of 2, two token tiles
    GE_EMU_COUNT(fails, stream<0, 0, 16, 8>(4, 0, 40, 256));               // zero token count: nothing written
    GE_EMU_COUNT(fails, group<0, 0, 64, 128, 2, 4, 3, 1>({5, 0, 70, 1}, 0, 136, 200));     // w8a8 prefix, empty expert, 2 M tiles
    GE_EMU_COUNT(fails, group<1, 1, 16, 32, 1, 4, 8, 0>({3, 0, 20, 16}, 20, 96, 384));     // w4a8 g128 padded, slab tails
    GE_EMU_COUNT(fails, group<1, 0, 16, 32, 1, 4, 8, 1>({17, 2}, 0, 40, 264));             // w4a8 per channel prefix
    GE_EMU_COUNT(fails, group<0, 0, 16, 32, 1, 4, 8, 0>({1, 33}, 40, 72, 136));            // w8a8 padded, small tile, 3 tiles in a slab
    GE_EMU_COUNT(fails, epilogue(5, 3, 300));
    // The TMA kernel: 3 M tiles x 2 column blocks over 4 CTAs, 5 K tiles through 4 stages with a 16-wide K tail, a last
    // M tile whose second warpgroup has no rows, an N tail inside the second block; one CTA walking 3 column blocks
    // (K of two tiles, the ring's phases reused across tiles); fp16 output; a zero token count.
    GE_EMU_COUNT(fails, tma<__nv_bfloat16>(300, 283, 300, 528, 4));
    GE_EMU_COUNT(fails, tma<__nv_bfloat16>(77, 77, 520, 144, 1));
    GE_EMU_COUNT(fails, tma<__half>(130, 129, 136, 256, 2));
    GE_EMU_COUNT(fails, tma<__nv_bfloat16>(40, 0, 136, 128, 2));
    printf("%d failed\n", fails);
    return fails;
}
