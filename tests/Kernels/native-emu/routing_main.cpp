// Routing, scatter and combine kernels under host emulation against the host rules (MoeRoutingHost):
// ids with ties, counts, prefix sums, permutation, inverse, NaN padded rows, multi-chunk scans.
#include "moe/moe_routing.cu"
#include "moe/moe_permute.cu"
#include <cstdio>
#include <random>
#include <type_traits>
// The top-k kernels' experts-per-lane instance for E experts, as MoeRouting.ExpertsPerLane picks it: f gets it as a
// std::integral_constant.
template <typename F> static void with_epl(int E, F f) {
    if (E <= 64) f(std::integral_constant<int, 2>{});
    else if (E <= 128) f(std::integral_constant<int, 4>{});
    else if (E <= 256) f(std::integral_constant<int, 8>{});
    else f(std::integral_constant<int, 32>{});
}
// moe_swiglu in each row mode against silu(gate) * up in float (gate in columns [0, F), up in [F, 2F)), rounded once,
// bit for bit; rows the mode marks invalid keep their sentinel. Columns split over grid.y as at few rows.
static int swiglu(std::mt19937& rng) {
    const int rows = 12, F = 37, E = 2, slots = 6, tokens = 7;
    const std::vector<int> offsets{0, 4, 9}, counts{4, 2};
    int bad = 0;
    for (int mode : {GE_ROWS_DENSE, GE_ROWS_PREFIX, GE_ROWS_PADDED}) {
        std::vector<__nv_bfloat16> h((size_t)rows * 2 * F), out((size_t)rows * F);
        for (auto& v : h) v = __float2bfloat16_rn(std::uniform_real_distribution<float>(-3, 3)(rng));
        for (auto& v : out) v.x = 0x7fa5;
        const int* info = mode == GE_ROWS_PREFIX ? offsets.data() : counts.data();
        int before = bad;
        launch(rows, 2, 16, [&] { moe_swiglu<__nv_bfloat16>(h.data(), out.data(), info, &tokens, rows, F, mode, E, slots); });
        for (int r = 0; r < rows; ++r) {
            bool valid = mode == GE_ROWS_DENSE ? r < tokens : mode == GE_ROWS_PREFIX ? r < offsets[E] : r % slots < counts[r / slots];
            for (int c = 0; c < F; ++c) {
                float g = __bfloat162float(h[(size_t)r * 2 * F + c]), u = __bfloat162float(h[(size_t)r * 2 * F + F + c]);
                unsigned short want = valid ? __float2bfloat16_rn(g / (1.0f + std::exp(-g)) * u).x : 0x7fa5;
                bad += out[(size_t)r * F + c].x != want;
            }
        }
        printf("moe_swiglu mode %d rows %d F %d: %d mismatches\n", mode, rows, F, bad - before);
    }
    return bad != 0;
}

// Host rules (mirror of MoeRoutingHost): top-k on logits, ties to lower index; stable assignment.
int main() {
    std::mt19937 rng(7);
    int fails = 0;
    GE_EMU_COUNT(fails, swiglu(rng));
    struct Case { int rows, valid, E, k, padded; bool ties; };
    for (Case cs : {Case{300, 290, 4, 2, 0, false}, Case{300, 290, 4, 2, 300, false}, Case{37, 29, 8, 2, 0, false}, Case{37, 29, 8, 2, 40, false}, Case{20, 20, 64, 6, 0, false},
                    Case{9, 9, 5, 5, 0, false}, Case{13, 13, 6, 1, 0, true}, Case{33, 30, 70, 3, 33, true},
                    // Past 64 experts, up to the 1024 a lane's 32 registers hold.
                    Case{24, 21, 200, 8, 0, false}, Case{20, 17, 300, 8, 20, true}, Case{40, 37, 1024, 6, 0, false}}) {
        int R = cs.rows, E = cs.E, K = cs.k;
        std::vector<__nv_bfloat16> logits((size_t)R * E);
        std::vector<float> lf((size_t)R * E);
        for (int i = 0; i < R * E; ++i) {
            float v = cs.ties ? (float)(int)(rng() % 3) : std::uniform_real_distribution<float>(-3, 3)(rng);
            if (i >= cs.valid * E) v = NAN;
            logits[i] = __float2bfloat16_rn(v); lf[i] = __bfloat162float(logits[i]);
        }
        int n = cs.valid;
        std::vector<int> ids((size_t)R * K, 123); std::vector<float> w((size_t)R * K, 5);
        with_epl(E, [&](auto epl) {
            launch((R + 3) / 4, 1, 128, [&] { moe_topk_softmax<__nv_bfloat16, decltype(epl)::value>(logits.data(), nullptr, ids.data(), w.data(), &n, R, E, K, 1, 0.0f, 0); });
        });
        // host
        std::vector<int> hid((size_t)R * K, -1);
        for (int t = 0; t < n; ++t) {
            std::vector<bool> taken(E);
            for (int s = 0; s < K; ++s) {
                int best = -1; float bv = -INFINITY;
                for (int e = 0; e < E; ++e) if (!taken[e] && (best < 0 || lf[t * E + e] > bv)) { best = e; bv = lf[t * E + e]; }
                taken[best] = true; hid[t * K + s] = best;
            }
        }
        int idbad = 0; for (int i = 0; i < R * K; ++i) if (ids[i] != hid[i]) idbad++;
        double wsum = 0; for (int s = 0; s < K; ++s) wsum += w[s];
        // assignment
        int P = cs.padded;
        int permRows = P ? E * P : R * K;
        std::vector<int> off(E + 1, -9), cnt(E, -9), perm(permRows, -7), inv((size_t)R * K, -9);
        launch(E, 1, 512, [&] { moe_assign(ids.data(), off.data(), cnt.data(), perm.data(), inv.data(), &n, R, K, E, P); });
        std::vector<int> hc(E), ho(E + 1), hp(permRows, -7), hi((size_t)R * K, -1), next(E);
        for (int a = 0; a < n * K; ++a) hc[hid[a]]++;
        for (int e = 0; e < E; ++e) ho[e + 1] = ho[e] + hc[e];
        for (int a = 0; a < n * K; ++a) { int e = hid[a]; int r = (P ? e * P : ho[e]) + next[e]++; hp[r] = a; hi[a] = r; }
        int abad = (cnt != hc) + (off != ho) + (perm != hp) + (inv != hi);
        // The one-block top-k + assignment (few tokens): the same ids, weights, counts, offsets, rows both ways.
        if (R <= 128) {
            std::vector<int> fi((size_t)R * K, 77), fo(E + 1, -9), fc(E, -9), fp(permRows, -7), fv((size_t)R * K, -9);
            std::vector<float> fw((size_t)R * K, 3);
            with_epl(E, [&](auto epl) {
                launch(1, 1, 1024, [&] { moe_topk_assign<__nv_bfloat16, decltype(epl)::value>(logits.data(), nullptr, fi.data(), fw.data(), fo.data(), fc.data(), fp.data(),
                    fv.data(), &n, R, E, K, 1, 0.0f, 0, P); });
            });
            abad += (fi != ids) + (memcmp(fw.data(), w.data(), fw.size() * sizeof(float)) != 0) + (fc != cnt) + (fo != off) + (fp != perm) + (fv != inv);
        }
        // scatter + combine round trip with weights 1/k: out = x when y = permuted x
        int H = 20;
        std::vector<__nv_bfloat16> x((size_t)R * H), pa((size_t)permRows * H), out((size_t)R * H);
        for (auto& v : x) v = __float2bfloat16_rn(std::uniform_real_distribution<float>(-1, 1)(rng));
        launch(R * K, 1, 256, [&] { moe_scatter((const unsigned short*)x.data(), inv.data(), (unsigned short*)pa.data(), &n, R, K, H); });
        std::vector<float> wk((size_t)R * K, 1.0f / K);
        launch(R, 1, 256, [&] { moe_combine<__nv_bfloat16>(pa.data(), inv.data(), wk.data(), nullptr, out.data(), &n, R, K, H); });
        // The same combine with the columns split over grid.y (few-token launches): identical bits.
        std::vector<__nv_bfloat16> split((size_t)R * H);
        launch(R, 3, 8, [&] { moe_combine<__nv_bfloat16>(pa.data(), inv.data(), wk.data(), nullptr, split.data(), &n, R, K, H); });
        int cbad = memcmp(split.data(), out.data(), split.size() * sizeof(__nv_bfloat16)) != 0;
        for (int t = 0; t < R; ++t) for (int c = 0; c < H; ++c) {
            float o = __bfloat162float(out[t * H + c]), e = t < n ? __bfloat162float(x[t * H + c]) : 0.0f;
            if (std::fabs(o - e) > 1e-2f * std::fabs(e) + 1e-6f) cbad++;
        }
        printf("rows %d valid %d E %d k %d P %d ties %d: id mismatches %d, w[0..k) sum %.6f, assign mismatches %d, combine mismatches %d\n",
               R, n, E, K, P, cs.ties, idbad, wsum, abad, cbad);
        GE_EMU_COUNT(fails, idbad + abad + cbad + (std::fabs(wsum - 1) > 1e-5));
    }
    // The fp32 router against a float64 dot product: experts not a multiple of the block's 4, token tiles
    // with padded rows (logits left untouched), the 4-wide path (hidden % 4 == 0) and the scalar one.
    for (int H : {36, 37}) {
        const int R = 13, valid = 11, E = 10;
        std::vector<__nv_bfloat16> x((size_t)R * H);
        std::vector<float> wg((size_t)E * H), lg((size_t)R * E, -7.0f);
        for (auto& v : x) v = __float2bfloat16_rn(std::uniform_real_distribution<float>(-1, 1)(rng));
        for (auto& v : wg) v = std::uniform_real_distribution<float>(-1, 1)(rng);
        int n = valid, vec4 = H % 4 == 0;
        launch((R + 7) / 8, (E + 3) / 4, 256, [&] { moe_router_fp32<__nv_bfloat16>(x.data(), wg.data(), lg.data(), &n, R, H, E, vec4); });
        int rbad = 0;
        for (int t = 0; t < R; ++t) for (int e = 0; e < E; ++e) {
            double ref = 0;
            for (int k = 0; k < H; ++k) ref += (double)__bfloat162float(x[t * H + k]) * wg[e * H + k];
            float got = lg[t * E + e];
            if (t >= valid ? got != -7.0f : std::fabs(got - ref) > 1e-5 * (1 + std::fabs(ref))) rbad++;
        }
        printf("router hidden %d (%s): %d mismatches\n", H, vec4 ? "4-wide" : "scalar", rbad);
        GE_EMU_COUNT(fails, rbad);
    }
    // The tiled router (many tokens): logits against float64 with K tails (hidden 70: scalar loads, 136: 4-wide, 200),
    // a partial and a fully padded token tile, experts split over blocks (BE 16, E 20) or all in one block with the
    // top-k fused (E 12 at BE 16, E 64 at BE 64; with and without a selection bias). The logits must be bit-identical
    // at BE 16 and 64 (one summation order), the fused ids equal to the top-k kernel's on those logits and to the host
    // rule's, the weights within 1e-6 (the fused softmax sums over a 16- or 4-lane tree, the kernel over 32).
    struct Tiled { int H, E; bool bias; };
    for (Tiled tc : {Tiled{70, 12, true}, Tiled{136, 64, false}, Tiled{200, 64, true}, Tiled{70, 20, false}}) {
        const int R = 37, valid = 29, E = tc.E, H = tc.H, K = 6;
        std::vector<__nv_bfloat16> x((size_t)R * H);
        std::vector<float> wg((size_t)E * H), bias(E);
        for (auto& v : x) v = __float2bfloat16_rn(std::uniform_real_distribution<float>(-1, 1)(rng));
        for (auto& v : wg) v = std::uniform_real_distribution<float>(-0.5f, 0.5f)(rng);
        for (auto& v : bias) v = std::uniform_real_distribution<float>(0, 0.05f)(rng);
        for (int i = valid * H; i < R * H; ++i) x[i] = __float2bfloat16_rn(NAN);
        int n = valid, vec4 = H % 4 == 0;
        const float* pb = tc.bias ? bias.data() : nullptr;
        std::vector<float> l16((size_t)R * E, -7.0f), l64((size_t)R * E, -7.0f);
        std::vector<int> fid((size_t)R * K, 123);
        std::vector<float> fw((size_t)R * K, 5);
        const int tiles = (R + 15) / 16;
        bool fuse16 = E <= 16;
        launch(tiles, (E + 15) / 16, 64, [&] { moe_router_tiled<__nv_bfloat16, 16>(x.data(), wg.data(), l16.data(), &n, R, H, E, vec4,
            pb, fuse16 ? fid.data() : nullptr, fw.data(), K, 1, 1e-12f, 1); });
        if (!fuse16)
            launch(tiles, (E + 63) / 64, 256, [&] { moe_router_tiled<__nv_bfloat16, 64>(x.data(), wg.data(), l64.data(), &n, R, H, E, vec4,
                pb, E <= 64 ? fid.data() : nullptr, fw.data(), K, 1, 1e-12f, 1); });
        else
            launch(tiles, 1, 256, [&] { moe_router_tiled<__nv_bfloat16, 64>(x.data(), wg.data(), l64.data(), &n, R, H, E, vec4,
                nullptr, nullptr, nullptr, K, 1, 1e-12f, 1); });
        int rbad = 0;
        for (int t = 0; t < R; ++t) for (int e = 0; e < E; ++e) {
            double ref = 0;
            for (int k = 0; k < H; ++k) ref += (double)__bfloat162float(x[t * H + k]) * wg[e * H + k];
            float got = l16[t * E + e];
            if (t >= valid ? got != -7.0f : std::fabs(got - ref) > 1e-5 * (1 + std::fabs(ref))) rbad++;
        }
        int order = memcmp(l16.data(), l64.data(), l16.size() * sizeof(float)) != 0;
        int fbad = 0;
        const bool fused = E <= 64;
        if (fused) {
            std::vector<int> kid((size_t)R * K, 99);
            std::vector<float> kw((size_t)R * K, 9);
            with_epl(E, [&](auto epl) {
                launch((R + 3) / 4, 1, 128, [&] { moe_topk_softmax<float, decltype(epl)::value>(l16.data(), pb, kid.data(), kw.data(), &n, R, E, K, 1, 1e-12f, 1); });
            });
            fbad += kid != fid;
            for (size_t i = 0; i < kw.size(); ++i) fbad += std::fabs(kw[i] - fw[i]) > 1e-6f * std::fabs(kw[i]);
            for (int t = 0; t < R; ++t) {
                std::vector<float> sc(l16.begin() + t * E, l16.begin() + (t + 1) * E);
                if (pb) {
                    float mx = *std::max_element(sc.begin(), sc.end()), sum = 0;
                    for (float v : sc) sum += std::exp(v - mx);
                    for (int e = 0; e < E; ++e) sc[e] = std::exp(sc[e] - mx) / sum + bias[e];
                }
                std::vector<bool> taken(E);
                for (int s = 0; s < K; ++s) {
                    int best = -1;
                    for (int e = 0; e < E; ++e) if (!taken[e] && (best < 0 || sc[e] > sc[best])) best = e;
                    taken[best] = true;
                    if (fid[t * K + s] != (t < valid ? best : -1)) fbad++;
                }
            }
        }
        printf("tiled router hidden %d E %d bias %d (%s%s): %d logit mismatches, BE 16 vs 64 %s, fused top-k mismatches %d\n",
               H, E, tc.bias, vec4 ? "4-wide" : "scalar", fused ? ", fused" : "", rbad, order ? "DIFFER" : "identical", fbad);
        GE_EMU_COUNT(fails, rbad + order + fbad);
    }
    printf("%d failed\n", fails);
    return fails != 0;
}
