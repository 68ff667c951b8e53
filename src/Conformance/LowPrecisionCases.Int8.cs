using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Conformance;

/// <summary>
/// The int8-activation modes (w8a8, w4a8) of the Linear layer: quantizer bytes against the host definition, the
/// GEMM bit for bit against its host definition (exact int32 sums, fp32 scales in the kernel's order) and against
/// float64 on the dequantized operands, the format against the unquantized inputs, every tile on one problem,
/// capture/replay, and bad input.
/// </summary>
public static partial class LowPrecisionCases
{
    /// <summary>
    /// int8-activation kernel bound: the codes multiply exactly and sum exactly in int32; the fp32 scale products add
    /// two or three roundings of 2^-24 (inside <see cref="Tolerance.Fp32Accumulation"/>); each output is rounded once.
    /// </summary>
    private static Tolerance Int8KernelTolerance(DType output) =>
        Tolerance.OneRounding(output, "exact int8 products and int32 sums, fp32 scales, one output rounding");

    /// <summary>
    /// Format bounds against unquantized bf16 inputs (random uniform data): int8 on both sides has step amax / 127,
    /// RMS error step / sqrt(12) = 0.0023 amax against an RMS of 0.58 amax, 0.4% per side, 0.6% on the product
    /// (the per-token activation scale follows the row's largest value: a bit more); bound 0.02. w4a8: 7 int4 levels
    /// per sign of amax, 7% RMS on the weights (as w4afp8's), plus 0.4% from int8 activations; bound 0.12.
    /// </summary>
    private static double Int8FormatBound(QuantMode mode) => mode == QuantMode.W8A8 ? 0.02 : 0.12;

    /// <summary>The kernel names the int8-activation GEMM's rule can pick on <paramref name="t"/>: both tiles of each weight format and grouping, the TMA kernel for w8a8 on sm_90 (int8 MMA needs sm_80).</summary>
    public static IReadOnlyList<string> Int8ActSelectable(LaunchTarget t) =>
        t.ComputeMajor * 10 + t.ComputeMinor < 80 ? Array.Empty<string>()
            : (from s in Int8Schemes
               from v in Int8ActGemm.VariantsFor(s.Format, Grouped(s), t.ComputeMajor, t.ComputeMinor)
               select Int8ActGemm.KernelName(v, s.Format, Grouped(s))).Distinct().ToArray();

    /// <summary>The IMMA path's epilogue kernel, which the w8a8 Linear rule picks at many rows where the TMA kernel does not apply (int8 MMA needs sm_80).</summary>
    public static IReadOnlyList<string> Int8EpilogueSelectable(LaunchTarget t) =>
        t.ComputeMajor * 10 + t.ComputeMinor >= 80
        && Int8ActLinearMethod.ImmaApplies(WeightOnlyFormat.Int8, false, Int8ActLinearMethod.ImmaMinRows, t.ComputeMajor, t.ComputeMinor)
            ? new[] { Int8ScaleEpilogue.KernelName } : Array.Empty<string>();

    private static readonly WeightOnlyScheme[] Int8Schemes =
    {
        WeightOnlyScheme.Int8PerChannel, WeightOnlyScheme.Int4PerChannel, WeightOnlyScheme.Int4Group(Int8ActPacking.Block),
    };

    private static bool Grouped(WeightOnlyScheme s) => !s.PerChannel;

    private static QuantMode ModeOf(WeightOnlyScheme s) => s.Format == WeightOnlyFormat.Int8 ? QuantMode.W8A8 : QuantMode.W4A8;

    private static string Tag(WeightOnlyScheme s) => s.Format == WeightOnlyFormat.Int8 ? "w8a8" : s.PerChannel ? "w4a8/channel" : "w4a8/g128";

    /// <summary>
    /// What the every-variant cases force in turn for one weight format and grouping (none below sm_80): every variant of
    /// the GEMM on the target, and for w8a8 the IMMA path's epilogue, which a GPU of another architecture picks at many rows.
    /// </summary>
    private static IReadOnlyList<string> Int8EveryTile(LaunchTarget t, WeightOnlyScheme s) =>
        t.ComputeMajor * 10 + t.ComputeMinor < 80 ? Array.Empty<string>()
            : Int8ActGemm.VariantsFor(s.Format, Grouped(s), t.ComputeMajor, t.ComputeMinor).Select(v => Int8ActGemm.KernelName(v, s.Format, Grouped(s)))
                .Concat(ImmaForm(s) ? new[] { Int8ScaleEpilogue.KernelName } : Array.Empty<string>()).ToArray();

    /// <summary>Whether the scheme has the IMMA path at all (w8a8: int8 codes, per-channel scales), on whatever GPU picks it.</summary>
    private static bool ImmaForm(WeightOnlyScheme s) => s.Format == WeightOnlyFormat.Int8 && !Grouped(s);

    /// <summary>The group kernel an expert case runs on the target (none below sm_80).</summary>
    private static IReadOnlyList<string> Int8GroupRule(LaunchTarget t, WeightOnlyScheme s, TokenLayout layout, int[] counts, int k)
    {
        if (t.ComputeMajor * 10 + t.ComputeMinor < 80) return Array.Empty<string>();
        var (_, bound, _, _, _) = Layout(layout, counts);
        return new[] { Int8ActGroupGemm.KernelName(Int8ActGroupGemm.ChooseVariant(layout, counts.Length, bound), layout, s.Format,
            Grouped(s) && Fp8Quant.Pad128(k) > Int8ActPacking.Block) };
    }

    /// <summary>Every group kernel (tiles x layouts x formats) the rule can pick on the target.</summary>
    public static IReadOnlyList<string> Int8GroupSelectable(LaunchTarget t) =>
        t.ComputeMajor * 10 + t.ComputeMinor < 80 ? Array.Empty<string>()
            : (from v in Int8ActGemm.Variants
               from layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded }
               from s in Int8Schemes
               select Int8ActGroupGemm.KernelName(v, layout, s.Format, Grouped(s))).ToArray();

    /// <summary>The kernel a Linear forward over <paramref name="rows"/> host rows runs on the target (none below sm_80).</summary>
    private static IReadOnlyList<string> Int8Rule(LaunchTarget t, WeightOnlyScheme s, int rows, int k)
    {
        if (t.ComputeMajor * 10 + t.ComputeMinor < 80) return Array.Empty<string>();
        if (Int8ActLinearMethod.ImmaApplies(s.Format, Grouped(s), rows, t.ComputeMajor, t.ComputeMinor)) return new[] { Int8ScaleEpilogue.KernelName };
        // One 128-wide group is per channel to the kernel: the Linear stores one scale row.
        bool grouped = Grouped(s) && Fp8Quant.Pad128(k) > Int8ActPacking.Block;
        return new[] { Int8ActGemm.KernelName(Int8ActGemm.ChooseVariant(rows, s.Format, grouped, t.ComputeMajor, t.ComputeMinor), s.Format, grouped) };
    }

    /// <summary>The w8a8 / w4a8 cases; <see cref="ConformanceSuite"/> runs them with the other low-precision cases.</summary>
    public static IEnumerable<ConformanceCase> Int8ActivationCases()
    {
        // Odd N (136: N tail of the 128 tile) and K (200: K tail inside a 128 block) where the scheme allows; group 128
        // needs K a multiple of 128. M 1, 7 (small tile), 83, 1000 (large tile, several M tiles).
        foreach (var s in Int8Schemes)
        {
            int k = s.PerChannel ? 200 : 384;
            foreach (int m in new[] { 1, 7, 83 })
                yield return new ConformanceCase($"lowprec/{Tag(s)}/linear/bf16/m={m}/n=136/k={k}", "lowprec",
                    d => Int8Linear(d, s, DType.BF16, m, 136, k)) { Variants = t => Int8Rule(t, s, m + 5, k) };
            // K not a multiple of 8: the quantizer's element-wise path (16-byte loads need K % 8 == 0), 8 host rows.
            if (s.PerChannel)
                yield return new ConformanceCase($"lowprec/{Tag(s)}/linear/bf16/m=3/n=72/k=203", "lowprec",
                    d => Int8Linear(d, s, DType.BF16, 3, 72, 203)) { Variants = t => Int8Rule(t, s, 8, 203) };
            yield return new ConformanceCase($"lowprec/{Tag(s)}/linear/f16/m=1000/n=264/k={(s.PerChannel ? 520 : 256)}", "lowprec",
                d => Int8Linear(d, s, DType.F16, 1000, 264, s.PerChannel ? 520 : 256)) { Variants = t => Int8Rule(t, s, 1005, s.PerChannel ? 520 : 256) };
            // Every variant the rule can pick, forced in turn on one host-quantized problem with NaN rows past the count.
            yield return new ConformanceCase($"lowprec/{Tag(s)}/gemm/every-variant/bf16/m=29/n=300/k={(s.PerChannel ? 1000 : 1024)}", "lowprec",
                d => Int8EveryVariant(d, s, 29, 300, s.PerChannel ? 1000 : 1024)) { Variants = t => Int8EveryTile(t, s) };
            // w8a8 at many rows, where the paths differ by GPU (the TMA kernel on sm_90, cuBLASLt IMMA and the scale pass
            // elsewhere): both forced, with three M tiles (the last one short of its second warpgroup's rows), an N tail in
            // the second 256-column block and eight K tiles through the four-stage ring.
            if (ImmaForm(s))
                yield return new ConformanceCase($"lowprec/{Tag(s)}/gemm/every-variant/bf16/m=283/n=300/k=1000", "lowprec",
                    d => Int8EveryVariant(d, s, 283, 300, 1000)) { Variants = t => Int8EveryTile(t, s) };
            yield return new ConformanceCase($"lowprec/{Tag(s)}/graph-replay/m=83", "lowprec", d => Int8Replay(d, s, 96, 83, 61));
        }
        // Experts: both layouts, an empty expert, one with several M tiles, slabs with padding rows (NaN).
        foreach (var s in Int8Schemes)
            foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
                // Few rows per expert (the small tile in both layouts; padded slabs of 8, 14 and 22, two padding rows
                // included, an expert of 20 over several tiles with prefix sums), a middling count and many (the large
                // tile, several M tiles in one expert).
                foreach (var counts in new[] { new[] { 5, 0, 6, 1 }, new[] { 5, 0, 12, 1 }, new[] { 5, 0, 20, 1 }, new[] { 40, 0, 30, 10 }, new[] { 130, 0, 83, 1 } })
                {
                    int k = s.PerChannel ? 200 : 256;
                    yield return new ConformanceCase($"lowprec/{Tag(s)}/experts/{layout}/e=4/counts={string.Join('-', counts)}/n=136/k={k}", "lowprec",
                        d => Int8Experts(d, s, layout, counts, 136, k)) { Variants = t => Int8GroupRule(t, s, layout, counts, k) };
                }
        yield return new ConformanceCase("lowprec/w8a8/experts/graph-replay", "lowprec", d => ExpertReplay(d, QuantMode.W8A8));
        yield return new ConformanceCase("lowprec/w4a8/experts/graph-replay", "lowprec", d => ExpertReplay(d, QuantMode.W4A8));
        // At 300 host rows w8a8 takes its many-row path (the TMA kernel on sm_90, the IMMA product + scale epilogue
        // elsewhere): captured, replayed at another count. On sm_90 the tensor maps travel in the captured node.
        yield return new ConformanceCase("lowprec/w8a8/graph-replay/many-rows/m=283", "lowprec", d => Int8Replay(d, WeightOnlyScheme.Int8PerChannel, 300, 283, 261))
            { Variants = t => Int8Rule(t, WeightOnlyScheme.Int8PerChannel, 300, 200) };
        yield return new ConformanceCase("lowprec/w8a8/linear/zero-rows/m=7/n=130/k=260", "lowprec", d => Int8ZeroRows(d));
        yield return new ConformanceCase("lowprec/w4a8/bad-input", "lowprec", d => Int8BadInput(d)) { Exclusive = true };

        // Full tier: benchmark shapes, every row against the oracle (the host definition is a scalar int loop: the
        // 2048 x 7168 x 4096 shape, IMMA's at many rows, runs for w8a8 only).
        foreach (var s in Int8Schemes)
            foreach (var (m, n, k) in s.Format == WeightOnlyFormat.Int8
                ? new[] { (16, 4096, 4096), (1024, 4096, 4096), (2048, 7168, 4096) }
                : new[] { (16, 4096, 4096), (1024, 4096, 4096) })
                yield return new ConformanceCase($"lowprec/{Tag(s)}/linear/full/m={m}/n={n}/k={k}", "lowprec",
                    d => Int8Linear(d, s, DType.BF16, m, n, k), CaseTier.Full) { Variants = t => Int8Rule(t, s, m + 5, k) };
    }

    private static CaseResult Int8Linear(Device device, WeightOnlyScheme scheme, DType dtype, int m, int n, int k)
    {
        int padded = m + 5;                          // rows [m, padded) are padding, filled with NaN
        var mode = ModeOf(scheme);
        using var rig = new Rig(device, padded, m);
        var w = RandomValues((long)n * k, 51, 0.05f, dtype);
        using var wBuf = device.AllocateTensor(dtype, new long[] { n, k }, out var wT, "w");
        wT.UploadFloats(w);
        using var method = Int8ActLinearMethod.Create(rig.Context, dtype, mode, scheme.GroupSize, LinearWeights.FromDevice(wT));
        var x = RandomActivations(padded, k, m, 52, dtype);
        using var xb = rig.Pool.RentTensor(dtype, new long[] { padded, k }, out var xT, "x");
        using var yb = rig.Pool.RentTensor(dtype, new long[] { padded, n }, out var yT, "y");
        xT.UploadFloats(x);
        yT.Poison(rig.Stream);
        method.Forward(rig.Stream, xT, yT, padded, rig.TokenCount);
        rig.Stream.Synchronize();
        var yAll = yT.DownloadFloats();
        var y = yAll.AsSpan(0, m * n).ToArray();

        // Quantizers: the device's bytes are the host definition's (weights: the weight-only rule on the bf16 values).
        var hostW = QuantizedWeights.Quantize(scheme, n, k, w);
        int kp = Fp8Quant.Pad128(k), np = Fp8Quant.Pad128(n), groups = Int8ActPacking.Groups(scheme.GroupSize, k);
        var hostPacked = new byte[(long)np * Int8ActPacking.RowBytes(scheme.Format, k)];
        var hostScales = new float[(long)groups * np];
        Int8ActPacking.Pack(scheme.Format, scheme.GroupSize, n, k, hostW.Values, hostW.Scales, hostPacked, hostScales);
        var (hostAq, hostAs) = HostInt8Activations(x, m, k);
        var (aq, asc) = method.ActivationWorkspace;
        var devAq = aq.SliceRows(0, m).ToArray<sbyte>();
        var devAs = asc.SliceRows(0, m).ToArray<float>();

        var codes = WeightCodes(scheme.Format, hostPacked, n, k);
        var definition = Int8Definition(hostAq, hostAs, codes, hostScales, m, n, kp, np, groups, dtype);
        var expected = Int8Oracle(hostAq, hostAs, codes, hostScales, m, n, kp, np, groups);
        var rows = SampleRows(m, 0);
        return CaseResult.All(
            Checks.Equal($"{Tag(scheme)} stored weight bytes vs host quantizer", hostPacked, method.Stored.Weights.DownloadBytes()),
            Checks.BitEqual("weight scales vs host quantizer", hostScales, method.Stored.Scales.ToArray<float>()),
            Checks.Equal("activation int8 codes vs host quantizer", hostAq, devAq),
            Checks.BitEqual("activation per-token scales vs host quantizer", hostAs, devAs),
            Checks.BitEqual($"{Tag(scheme)} [{m}x{k}]·[{n}x{k}]ᵀ vs the host definition (exact int32 sums, fp32 scales)", definition, y),
            Checks.Close($"{Tag(scheme)} [{m}x{k}]·[{n}x{k}]ᵀ vs float64 on the dequantized operands", expected, y, n, Int8KernelTolerance(dtype)),
            Checks.True(yAll.AsSpan(m * n).ToArray().All(float.IsNaN), "rows past the token count left unwritten"),
            Checks.Close($"{mode.Label()} format error vs unquantized inputs", Float64.MatMulT(x.AsSpan(0, m * k).ToArray(), m, w, n, k), Pick(y, rows, n),
                Int8FormatBound(mode), mode == QuantMode.W8A8 ? "int8 on both sides, about 0.4% RMS each" : "7 int4 levels per sign (about 7% RMS) plus int8 activations"));
    }

    // All-zero activation rows get scale 0 and codes 0, all-zero weight rows scale 0: outputs exactly 0, nothing NaN.
    private static CaseResult Int8ZeroRows(Device device)
    {
        const int m = 7, n = 130, k = 260;
        using var rig = new Rig(device, m, m);
        var w = RandomValues(n * k, 61, 0.05f, DType.BF16);
        for (int c = 0; c < k; c++) w[3 * k + c] = 0;
        var x = RandomActivations(m, k, m, 62, DType.BF16);
        for (int c = 0; c < k; c++) x[2 * k + c] = 0;
        using var method = Int8ActLinearMethod.Create(rig.Context, DType.BF16, QuantMode.W8A8, GroupSize.PerChannel, LinearWeights.FromHost(n, k, w));
        var (y, scales) = ForwardOnce(rig, method, () => method.ActivationWorkspace.Scales, x, m);
        return CaseResult.All(
            Checks.True(scales[2] == 0f, $"an all-zero activation row gets scale 0 (got {scales[2]})"),
            Checks.True(method.Stored.Scales.ToArray<float>()[3] == 0f, "an all-zero weight row gets scale 0"),
            Checks.True(Enumerable.Range(0, n).All(j => y[2 * n + j] == 0f) && Enumerable.Range(0, m).All(r => y[r * n + 3] == 0f), "their outputs are exactly 0"),
            Checks.True(ErrorMetrics.FirstNonFinite(y) < 0, "every output finite"));
    }

    // The GEMM alone on host-quantized operands, once per tile (the rule picks by rows; conformance forces each).
    // Rows past the device token count hold codes 127 and must be neither read into a valid row nor written: the first of
    // them has scale 1, so a stored padded row shows against the NaN poison (a NaN scale would store NaN), the rest NaN,
    // so a valid row that picked up a padded row's scale is NaN.
    private static CaseResult Int8EveryVariant(Device device, WeightOnlyScheme scheme, int m, int n, int k)
    {
        int padded = m + 5;
        using var rig = new Rig(device, padded, m);
        int kp = Fp8Quant.Pad128(k), np = Fp8Quant.Pad128(n), groups = Int8ActPacking.Groups(scheme.GroupSize, k);
        var w = RandomValues((long)n * k, 71, 0.05f, DType.BF16);
        var x = RandomActivations(padded, k, m, 72, DType.BF16);
        var hostW = QuantizedWeights.Quantize(scheme, n, k, w);
        var packed = new byte[(long)np * Int8ActPacking.RowBytes(scheme.Format, k)];
        var ws = new float[(long)groups * np];
        Int8ActPacking.Pack(scheme.Format, scheme.GroupSize, n, k, hostW.Values, hostW.Scales, packed, ws);
        var (aq, asc) = HostInt8Activations(x, m, k);
        var aAll = new sbyte[(long)padded * kp];
        var sAll = new float[padded];
        aq.CopyTo(aAll, 0);
        asc.CopyTo(sAll, 0);
        aAll.AsSpan(m * kp).Fill(127);
        sAll.AsSpan(m).Fill(float.NaN);
        sAll[m] = 1f;
        var codes = WeightCodes(scheme.Format, packed, n, k);
        var definition = Int8Definition(aq, asc, codes, ws, m, n, kp, np, groups, DType.BF16);
        var expected = Int8Oracle(aq, asc, codes, ws, m, n, kp, np, groups);

        using var ab = rig.Pool.RentTensor(DType.I8, new long[] { padded, kp }, out var aT, "a q");
        using var sb = rig.Pool.RentTensor(DType.F32, new long[] { padded }, out var asT, "a scales");
        using var wb = rig.Pool.RentTensor(scheme.Format == WeightOnlyFormat.Int8 ? DType.I8 : DType.U8,
            new long[] { np, Int8ActPacking.RowBytes(scheme.Format, k) }, out var wT, "w q");
        using var wsb = rig.Pool.RentTensor(DType.F32, new long[] { groups, np }, out var wsT, "w scales");
        using var cb = rig.Pool.RentTensor(DType.BF16, new long[] { padded, n }, out var cT, "c");
        aT.CopyFrom<sbyte>(aAll);
        asT.UploadFloats(sAll);
        wT.UploadBytes(packed);
        wsT.UploadFloats(ws);
        var info = device.Info;
        var variants = info.Backend == BackendKind.Cuda
            ? Int8ActGemm.VariantsFor(scheme.Format, groups > 1, info.ComputeMajor, info.ComputeMinor).Select(v => (Int8ActGemmVariant?)v).ToArray()
            : new Int8ActGemmVariant?[] { null };
        var checks = new List<CaseResult>();
        void Compare(string label, Action run)
        {
            cT.Poison(rig.Stream);
            run();
            rig.Stream.Synchronize();
            var y = cT.DownloadFloats();
            checks.Add(Checks.BitEqual($"{Tag(scheme)} GEMM {label} vs the host definition", definition, y.AsSpan(0, m * n)));
            checks.Add(Checks.Close($"{Tag(scheme)} GEMM {label} [{m}x{k}]·[{n}x{k}]ᵀ vs float64", expected, y.AsSpan(0, m * n), n, Int8KernelTolerance(DType.BF16)));
            checks.Add(Checks.True(y.AsSpan(m * n).ToArray().All(float.IsNaN), $"{label}: rows past the token count left unwritten"));
        }
        foreach (var variant in variants)
        {
            var gemm = Int8ActGemm.Create(device, variant);
            gemm.Prepare(DType.BF16, scheme.Format, groups > 1);
            Compare(variant?.ToString() ?? "reference", () => gemm.MatMul(rig.Stream, aT, asT, wT, wsT, cT, padded, rig.TokenCount));
        }
        if (ImmaForm(scheme))
        {
            // The IMMA path as other GPUs run it at many rows: every host row into the int32 product (rows past the count
            // from codes 127), the scale pass below the count only.
            using var c32b = rig.Pool.RentTensor(DType.I32, new long[] { padded, np }, out var c32, "int32 product");
            using var imma = Int8Gemm.Create(device);
            var epilogue = Int8ScaleEpilogue.Create(device);
            epilogue.Prepare(DType.BF16);
            Compare("IMMA + scale epilogue", () =>
            {
                imma.MatMul(rig.Stream, aT, wT, c32, padded);
                epilogue.Apply(rig.Stream, c32, asT, wsT, cT, padded, rig.TokenCount);
            });
        }
        return CaseResult.All(checks.ToArray());
    }

    // Capture at one token count, replay at another (between captured sizes): the replay equals an eager run bit for bit.
    private static CaseResult Int8Replay(Device device, WeightOnlyScheme scheme, int padded, int captured, int replayedTokens)
    {
        int n = 136, k = scheme.PerChannel ? 200 : 256;
        using var rig = new Rig(device, padded, captured);
        using var method = Int8ActLinearMethod.Create(rig.Context, DType.BF16, ModeOf(scheme), scheme.GroupSize,
            LinearWeights.FromHost(n, k, RandomValues((long)n * k, 81, 0.05f, DType.BF16)));
        using var xb = rig.Pool.RentTensor(DType.BF16, new long[] { padded, k }, out var xT, "x");
        using var yb = rig.Pool.RentTensor(DType.BF16, new long[] { padded, n }, out var yT, "y");
        xT.UploadFloats(RandomActivations(padded, k, captured, 82, DType.BF16));
        return LinearReplayEqualsEager(rig, method, xT, yT, padded, k, n, replayedTokens, 83, Tag(scheme), tailUnwritten: true);
    }

    // One line naming the layer, the value and the constraint; nothing allocated.
    private static CaseResult Int8BadInput(Device device)
    {
        using var rig = new Rig(device, 8, 8);
        long before = device.AllocatedBytes;
        CaseResult Refused(string what, Action act, params string[] mentions)
        {
            try
            {
                act();
                return CaseResult.Fail($"{what}: accepted");
            }
            catch (ArgumentException e)
            {
                bool named = mentions.All(s => e.Message.Contains(s, StringComparison.Ordinal)) && !e.Message.Contains('\n');
                return Checks.True(named, $"{what}: one line naming {string.Join(", ", mentions)}: {e.Message}");
            }
        }
        var w = RandomValues(16 * 200, 91, 0.05f, DType.BF16);
        var results = new[]
        {
            Refused("group 128 with K=200", () => Int8ActLinearMethod.Create(rig.Context, DType.BF16, QuantMode.W4A8, GroupSize.Of(128), LinearWeights.FromHost(16, 200, w), "proj").Dispose(),
                "'proj'", "K=200", "128"),
            Refused("packed int4 with odd K", () => Int8ActLinearMethod.FromPackedInt4(rig.Context, DType.BF16, GroupSize.PerChannel, 16, 201, new byte[16 * 100], new float[16], "proj").Dispose(),
                "'proj'", "K=201", "even"),
            Refused("w8a8 with group 128", () => Int8ActLinearMethod.Create(rig.Context, DType.BF16, QuantMode.W8A8, GroupSize.Of(128), LinearWeights.FromHost(16, 256, RandomValues(16 * 256, 92, 0.05f, DType.BF16)), "proj").Dispose(),
                "'proj'", "128", "per output channel"),
            Refused("w4a8 group 64", () => Int8ActLinearMethod.Create(rig.Context, DType.BF16, QuantMode.W4A8, GroupSize.Of(64), LinearWeights.FromHost(16, 256, RandomValues(16 * 256, 93, 0.05f, DType.BF16)), "proj").Dispose(),
                "'proj'", "64", "128"),
        };
        return CaseResult.All(results.Append(Checks.True(device.AllocatedBytes == before, "nothing left allocated")).ToArray());
    }

    // The expert group GEMM through the MoE method: stored bytes per expert, activation codes of the real rows, every
    // real row bit for bit against the host definition with its expert's weights and against float64, other rows unwritten.
    private static CaseResult Int8Experts(Device device, WeightOnlyScheme scheme, TokenLayout layout, int[] counts, int n, int k)
    {
        int e = counts.Length;
        var mode = ModeOf(scheme);
        var (_, bound, total, _, rowExpert) = Layout(layout, counts);
        using var rig = new Rig(device, total, total);
        var w = RandomValues((long)e * n * k, 101, 0.05f, DType.BF16);
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { e, n, k }, out var wT, "w");
        wT.UploadFloats(w);
        using var method = Int8ActMoeMethod.Quantize(rig.Context, wT, mode, scheme.GroupSize, total);
        var run = RunExperts(rig, method, layout, counts, n, k, DType.BF16, 102);
        int kp = Fp8Quant.Pad128(k), np = Fp8Quant.Pad128(n), groups = Int8ActPacking.Groups(scheme.GroupSize, k);
        int rowBytes = Int8ActPacking.RowBytes(scheme.Format, k);
        var (devW, devS) = method.Stored;
        var storedW = devW.DownloadBytes();
        var storedS = devS.ToArray<float>();
        var devAq = method.ActivationWorkspace.Q.SliceRows(0, total).ToArray<sbyte>();
        var devAs = method.ActivationWorkspace.Scales.SliceRows(0, total).ToArray<float>();
        var checks = new List<CaseResult>();
        for (int x = 0; x < e; x++)
        {
            var hostW = QuantizedWeights.Quantize(scheme, n, k, w.AsSpan(x * n * k, n * k));
            var packed = new byte[(long)np * rowBytes];
            var ws = new float[(long)groups * np];
            Int8ActPacking.Pack(scheme.Format, scheme.GroupSize, n, k, hostW.Values, hostW.Scales, packed, ws);
            checks.Add(Checks.Equal($"expert {x} stored bytes vs host quantizer", packed, storedW.AsSpan(x * np * rowBytes, np * rowBytes)));
            checks.Add(Checks.BitEqual($"expert {x} scales vs host quantizer", ws, storedS.AsSpan(x * groups * np, groups * np)));
            var rows = Enumerable.Range(0, total).Where(r => rowExpert[r] == x).ToArray();
            if (rows.Length == 0) continue;
            var xs = new float[(long)rows.Length * k];
            for (int i = 0; i < rows.Length; i++) Array.Copy(run.A, (long)rows[i] * k, xs, (long)i * k, k);
            var (aq, asc) = HostInt8Activations(xs, rows.Length, k);
            var dq = new sbyte[aq.Length];
            var ds = new float[rows.Length];
            for (int i = 0; i < rows.Length; i++) { Array.Copy(devAq, (long)rows[i] * kp, dq, (long)i * kp, kp); ds[i] = devAs[rows[i]]; }
            checks.Add(Checks.Equal($"expert {x} activation codes vs host quantizer", aq, dq));
            checks.Add(Checks.BitEqual($"expert {x} activation scales vs host quantizer", asc, ds));
            var codes = WeightCodes(scheme.Format, packed, n, k);
            var y = Pick(run.C, rows, n);
            checks.Add(Checks.BitEqual($"expert {x} ({rows.Length} rows) vs the host definition", Int8Definition(aq, asc, codes, ws, rows.Length, n, kp, np, groups, DType.BF16), y));
            checks.Add(Checks.Close($"expert {x} vs float64 on the dequantized operands", Int8Oracle(aq, asc, codes, ws, rows.Length, n, kp, np, groups), y, n, Int8KernelTolerance(DType.BF16)));
        }
        var outside = Enumerable.Range(0, total).Where(r => rowExpert[r] < 0).ToArray();
        checks.Add(Checks.True(outside.All(r => run.C.AsSpan(r * n, n).ToArray().All(float.IsNaN)), $"{outside.Length} rows outside every expert left unwritten"));
        return CaseResult.All(checks.ToArray());
    }

    // ------------------------------------------------------------------ host side of the int8 cases

    private static (sbyte[] Q, float[] Scales) HostInt8Activations(float[] x, int rows, int k)
    {
        int kp = Fp8Quant.Pad128(k);
        var q = new sbyte[(long)rows * kp];
        var s = new float[rows];
        Parallel.For(0, rows, r => s[r] = Int8Quant.HostQuantizeRow(x.AsSpan(r * k, k), q.AsSpan(r * kp, kp)));
        return (q, s);
    }

    /// <summary>Logical weight codes [N, Kp] (zero past K) decoded from a stored layout by the test, not by the kernel.</summary>
    private static sbyte[] WeightCodes(WeightOnlyFormat format, byte[] packed, int n, int k)
    {
        int kp = Fp8Quant.Pad128(k);
        var codes = new sbyte[(long)n * kp];
        Parallel.For(0, n, j => { for (int c = 0; c < kp; c++) codes[(long)j * kp + c] = (sbyte)Int8ActPacking.CodeAt(format, packed, k, j, c); });
        return codes;
    }

    /// <summary>The kernel's definition on the host (exact int32 sums per group, <see cref="Int8ActGemm.Epilogue"/>), rounded to <paramref name="dtype"/>.</summary>
    private static float[] Int8Definition(sbyte[] aq, float[] asc, sbyte[] codes, float[] ws, int m, int n, int kp, int np, int groups, DType dtype)
    {
        var result = new float[(long)m * n];
        int width = kp / groups;
        Parallel.For(0, m, r =>
        {
            Span<int> parts = stackalloc int[groups];
            Span<float> scales = stackalloc float[groups];
            for (int j = 0; j < n; j++)
            {
                for (int g = 0; g < groups; g++)
                {
                    parts[g] = DotS8(aq.AsSpan((int)((long)r * kp + g * width), width), codes.AsSpan((int)((long)j * kp + g * width), width));
                    scales[g] = ws[g * np + j];
                }
                result[(long)r * n + j] = Round(Int8ActGemm.Epilogue(parts, scales, asc[r]), dtype);
            }
        });
        return result;
    }

    /// <summary>
    /// Σ a[i]·b[i] of int8 codes in int32, exact in any order (what the int8 MMA sums), on SIMD lanes: the scalar loop
    /// made the 2048 x 7168 x 4096 case the slowest of the check (8.6 s on the H200 machine).
    /// </summary>
    internal static int DotS8(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        int lanes = System.Numerics.Vector<sbyte>.Count, i = 0;
        var acc = System.Numerics.Vector<int>.Zero;
        for (; i + lanes <= a.Length; i += lanes)
        {
            // |code·code| <= 128·128 fits a short; four ints per group of lanes hold the partial sums.
            System.Numerics.Vector.Widen(new System.Numerics.Vector<sbyte>(a[i..]), out var alo, out var ahi);
            System.Numerics.Vector.Widen(new System.Numerics.Vector<sbyte>(b[i..]), out var blo, out var bhi);
            System.Numerics.Vector.Widen(alo * blo, out var p0, out var p1);
            System.Numerics.Vector.Widen(ahi * bhi, out var p2, out var p3);
            acc += p0 + p1 + p2 + p3;
        }
        int sum = System.Numerics.Vector.Sum(acc);
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>float64 on the dequantized operands: (a code · a scale) · (w code · w scale of its group), summed without rounding.</summary>
    private static double[] Int8Oracle(sbyte[] aq, float[] asc, sbyte[] codes, float[] ws, int m, int n, int kp, int np, int groups)
    {
        var a = new float[(long)m * kp];
        var w = new float[(long)n * kp];
        Float64.ForChunks(a.Length, 1 << 16, (s0, s1) => { for (long i = s0; i < s1; i++) a[i] = aq[i]; });
        Float64.ForChunks(w.Length, 1 << 16, (s0, s1) => { for (long i = s0; i < s1; i++) w[i] = codes[i]; });
        var wScales = new float[(long)n * groups];
        for (int j = 0; j < n; j++) for (int g = 0; g < groups; g++) wScales[j * groups + g] = ws[g * np + j];
        var aScales = new float[(long)m * groups];   // the token's one scale, repeated per group as MatMulT takes them
        for (int r = 0; r < m; r++) aScales.AsSpan(r * groups, groups).Fill(asc[r]);
        return Float64.MatMulT(a, m, w, n, kp, groups == 1 ? 0 : kp / groups, aScales, wScales);
    }
}
