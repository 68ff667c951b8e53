// dense_gemv (native/gemm/dense_gemv.cu) under host emulation against a float64 product: token rows 1-16 (the m16
// tile's upper half empty and full), channel tails (N % 8 != 0), a K with a partial last 32-wide chunk and K split
// over the warps unevenly, with and without bias; outputs past the rows must stay untouched.
#include "gemm/dense_gemv.cu"
#include <cstdio>
#include <random>

static int run_case(int rows, int N, int K, bool with_bias) {
    std::mt19937 rng(rows * 131 + N * 7 + K);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<__nv_bfloat16> x((size_t)rows * K), w((size_t)N * K), b(N), out((size_t)(rows + 1) * N, __float2bfloat16_rn(9.0f));
    for (auto& v : x) v = __float2bfloat16_rn(u(rng));
    for (auto& v : w) v = __float2bfloat16_rn(u(rng));
    for (auto& v : b) v = __float2bfloat16_rn(u(rng));
    launch((N + 7) / 8, 1, 4 * 32, [&] {
        dense_gemv<__nv_bfloat16, 4, 16>(x.data(), w.data(), with_bias ? b.data() : nullptr, out.data(), rows, N, K);
    });
    int bad = 0;
    for (int t = 0; t <= rows; ++t)
        for (int n = 0; n < N; ++n) {
            const float o = __bfloat162float(out[(size_t)t * N + n]);
            if (t == rows) { bad += o != 9.0f; continue; }   // the row past `rows` is never written
            double e = with_bias ? __bfloat162float(b[n]) : 0.0;
            for (int k = 0; k < K; ++k) e += (double)__bfloat162float(x[(size_t)t * K + k]) * __bfloat162float(w[(size_t)n * K + k]);
            // One bf16 rounding (unit roundoff 2^-8) of an fp32 sum of K products of magnitude <= 1.
            bad += std::fabs(o - e) > 4e-3 * std::fabs(e) + 1e-5 * K;
        }
    std::printf("dense_gemv<bf16, 4, 16> rows %d N %d K %d%s: %d bad\n", rows, N, K, with_bias ? " bias" : "", bad);
    return bad;
}

int main() {
    int fails = 0;
    GE_EMU_COUNT(fails, run_case(1, 20, 1032, true) != 0);
    GE_EMU_COUNT(fails, run_case(13, 37, 2568, false) != 0);
    GE_EMU_COUNT(fails, run_case(16, 9, 200, true) != 0);
    GE_EMU_COUNT(fails, run_case(8, 16, 64, false) != 0);
    std::printf("%s\n", fails ? "FAILED" : "dense_gemv emulation passed");
    return fails ? 1 : 0;
}
