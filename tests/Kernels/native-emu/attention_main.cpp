// samples/RealModel's kernels (cuda/attention.cu, cuda/embedding.cu) under host emulation against a float64 attention
// written here: q/k norm, RoPE in both pairings, GQA, causal softmax; rows past n left untouched; the gather.
#include "cuda/attention.cu"
#include "cuda/embedding.cu"
#include <cstdio>
#include <random>
static std::mt19937 rng(11);
static float urand() { return std::uniform_real_distribution<float>(-1, 1)(rng); }
static unsigned short f2bf(float f) { return __float2bfloat16_rn(f).x; }
static float bf2f(unsigned short b) { return __bfloat162float(__nv_bfloat16{b}); }

// Heads H, kv heads KV, head dim D, n valid rows of R; the output's rows past n must keep their poison.
static int run(int H, int KV, int D, int n, int R, bool interleaved, bool qk_norm) {
    const int W = (H + 2 * KV) * D, half = D / 2;
    const double theta = interleaved ? 500000.0 : 10000.0, eps = 1e-6;
    std::vector<__nv_bfloat16> qkv((size_t)R * W), out((size_t)R * H * D, __nv_bfloat16{0x7fc0});
    for (auto& v : qkv) v = __float2bfloat16_rn(2 * urand());
    std::vector<float> qn(D), kn(D), cs((size_t)R * half), sn((size_t)R * half), qk((size_t)R * (H + KV) * D, NAN);
    for (int i = 0; i < D; ++i) { qn[i] = 1 + 0.25f * urand(); kn[i] = 1 + 0.25f * urand(); }
    for (int p = 0; p < R; ++p)
        for (int i = 0; i < half; ++i) {
            double a = p * std::pow(theta, -2.0 * i / D);
            cs[p * half + i] = (float)std::cos(a); sn[p * half + i] = (float)std::sin(a);
        }
    float scale = (float)(1 / std::sqrt((double)D));
    auto rope = [&] {
        if (interleaved && qk_norm) rope_qk<true, true>(qkv.data(), qn.data(), kn.data(), cs.data(), sn.data(), qk.data(), H, KV, D, (float)eps);
        else if (interleaved) rope_qk<true, false>(qkv.data(), nullptr, nullptr, cs.data(), sn.data(), qk.data(), H, KV, D, (float)eps);
        else if (qk_norm) rope_qk<false, true>(qkv.data(), qn.data(), kn.data(), cs.data(), sn.data(), qk.data(), H, KV, D, (float)eps);
        else rope_qk<false, false>(qkv.data(), nullptr, nullptr, cs.data(), sn.data(), qk.data(), H, KV, D, (float)eps);
    };
    launch(n, H + KV, RA_THREADS, rope);
    launch(n, H, RA_THREADS, [&] { causal_attention(qk.data(), qkv.data(), out.data(), H, KV, D, scale); });

    // float64: rotated q / k per (row, head), then attention.
    auto rotated = [&](int t, int head) {
        std::vector<double> x(D), y(D);
        for (int d = 0; d < D; ++d) x[d] = bf2f(qkv[(size_t)t * W + (size_t)head * D + d].x);
        if (qk_norm) {
            double ss = 0; for (double v : x) ss += v * v;
            double inv = 1 / std::sqrt(ss / D + eps);
            for (int d = 0; d < D; ++d) x[d] *= inv * (head < H ? qn[d] : kn[d]);
        }
        for (int i = 0; i < half; ++i) {
            int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
            double ang = t * std::pow(theta, -2.0 * i / D), c = std::cos(ang), s = std::sin(ang);
            y[a] = x[a] * c - x[b] * s; y[b] = x[b] * c + x[a] * s;
        }
        return y;
    };
    int bad = 0, untouched = 0;
    for (int t = 0; t < R; ++t)
        for (int h = 0; h < H; ++h) {
            if (t >= n) { for (int d = 0; d < D; ++d) untouched += out[((size_t)t * H + h) * D + d].x == 0x7fc0; continue; }
            int g = h / (H / KV);
            auto q = rotated(t, h);
            std::vector<double> p(t + 1);
            double m = -INFINITY, sum = 0;
            for (int j = 0; j <= t; ++j) {
                auto k = rotated(j, H + g);
                double s = 0; for (int d = 0; d < D; ++d) s += q[d] * k[d];
                p[j] = s / std::sqrt((double)D); m = std::max(m, p[j]);
            }
            for (auto& v : p) sum += v = std::exp(v - m);
            for (int d = 0; d < D; ++d) {
                double ref = 0;
                for (int j = 0; j <= t; ++j) ref += p[j] / sum * bf2f(qkv[(size_t)j * W + (size_t)(H + KV + g) * D + d].x);
                double got = bf2f(out[((size_t)t * H + h) * D + d].x);
                // One rounding to bf16 (unit roundoff 2^-8) plus fp32 sums of O(1) terms.
                if (!(std::fabs(got - ref) <= std::ldexp(std::fabs(ref), -8) + 1e-5)) bad++;
            }
        }
    int expectUntouched = (R - n) * H * D;
    printf("attention H=%d KV=%d D=%d n=%d of %d, %s pairs%s: %d mismatches, %d/%d padded values untouched\n", H, KV, D, n, R,
           interleaved ? "(2i,2i+1)" : "(i,i+D/2)", qk_norm ? ", q/k norm" : "", bad, untouched, expectUntouched);
    return bad + (untouched != expectUntouched);
}

static int gather() {
    const int V = 29, Hd = 300, n = 9;
    std::vector<unsigned short> table((size_t)V * Hd), out((size_t)(n + 2) * Hd, 0x7fc0);
    for (auto& v : table) v = f2bf(urand());
    std::vector<int> ids(n);
    for (auto& i : ids) i = (int)(rng() % V);
    launch(n, 1, 256, [&] { embedding_gather(table.data(), ids.data(), out.data(), Hd); });
    int bad = 0;
    for (int t = 0; t < n + 2; ++t)
        for (int c = 0; c < Hd; ++c) bad += out[(size_t)t * Hd + c] != (t < n ? table[(size_t)ids[t] * Hd + c] : 0x7fc0);
    printf("embedding gather vocab %d hidden %d n=%d: %d mismatches\n", V, Hd, n, bad);
    return bad;
}

int main() {
    int fails = 0;
    GE_EMU_COUNT(fails, run(4, 2, 16, 33, 36, true, false));    // ERNIE-4.5: interleaved pairs, GQA 2:1
    GE_EMU_COUNT(fails, run(6, 2, 32, 7, 9, false, true));      // Qwen3: rotate_half, q/k norm, GQA 3:1
    GE_EMU_COUNT(fails, run(3, 3, 8, 1, 2, false, false));      // Llama-style MHA, a single token
    GE_EMU_COUNT(fails, run(2, 1, 130, 5, 5, true, true));      // head_dim above the block: the strided loops
    GE_EMU_COUNT(fails, gather());
    printf("%d failed\n", fails);
    return fails != 0;
}
