using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Conformance;

/// <summary>
/// Conformance cases of the low-precision modes (block_wise_fp8, w4afp8, nvfp4). Each mode is checked
/// twice against float64: against the dequantized weights and the quantized activations (measures the
/// kernel: bound 1e-2), and against the unquantized inputs (measures the format: a bound per mode, see
/// <see cref="FormatBound"/>). Quantizers are checked byte for byte against the host definition.
/// </summary>
public static partial class LowPrecisionCases
{
    /// <summary>
    /// block_fp8 kernel bound: e4m3 x e4m3 on the tensor cores (wgmma on Hopper), whose accumulator is narrower than
    /// fp32 inside an MMA chain (<see cref="Tolerance.Fp8TensorCore"/>); the kernel promotes to fp32 with the scales
    /// every 128 elements of K, then each output is rounded once.
    /// </summary>
    public static Tolerance KernelTolerance(DType output) => Tolerance.Fp8TensorCore(output);

    /// <summary>
    /// w4afp8 / nvfp4 group-GEMM bound: exactly representable operands multiplied by mma.sync, fp32 accumulation and
    /// scales, one output rounding (measured within the one-rounding element bound on the H200).
    /// </summary>
    private static Tolerance GroupKernelTolerance(DType output) =>
        Tolerance.OneRounding(output, "exact products, fp32 accumulation and scales, one output rounding");

    /// <summary>
    /// block_fp8 in float64 from host bytes: e4m3 codes of the activations [m, Kp] and weights [N·, Kp], each
    /// 128-wide K block's exact partial times the activation's 1x128 scale and the weight's 128x128 scale.
    /// </summary>
    private static double[] BlockFp8Oracle(byte[] aq, float[] aScales, byte[] wq, float[] wBlockScales, int m, int n, int kp)
    {
        int kb = kp / Fp8Quant.Block;
        var a = new float[(long)m * kp];
        var w = new float[(long)n * kp];
        var ws = new float[n * kb];
        Float64.ForChunks(a.Length, 1 << 16, (s0, s1) => { for (long i = s0; i < s1; i++) a[i] = Fp8Quant.Decode(aq[i]); });
        Float64.ForChunks(w.Length, 1 << 16, (s0, s1) => { for (long i = s0; i < s1; i++) w[i] = Fp8Quant.Decode(wq[i]); });
        for (int j = 0; j < n; j++)
            for (int b = 0; b < kb; b++) ws[j * kb + b] = wBlockScales[j / Fp8Quant.Block * kb + b];
        return Float64.MatMulT(a, m, w, n, kp, Fp8Quant.Block, aScales.AsSpan(0, m * kb).ToArray(), ws);
    }

    /// <summary>
    /// Format bounds against unquantized bf16 inputs (random uniform data, relative Frobenius of the output):
    /// block_wise_fp8: e4m3 keeps 3 mantissa bits, relative rounding error up to 2^-4 per element, about
    /// 2.5% RMS on each side, so about 4% on the product; bound 0.08.
    /// w4afp8: 7 int4 levels per side of amax: step amax/7, RMS error step/sqrt(12) = 0.041 amax against
    /// an RMS value of 0.58 amax (uniform), about 7% on weights, plus 2.5% from fp8 activations; bound 0.15.
    /// nvfp4: e2m1 values {0, .5, 1, 1.5, 2, 3, 4, 6} with a scale per 16: relative error up to 1/6 near
    /// the top, larger for small values; measured about 9-10% on uniform data; bound 0.18.
    /// </summary>
    public static double FormatBound(QuantMode mode) => mode switch
    {
        QuantMode.BlockWiseFp8 => 0.08,
        QuantMode.W4AFp8 => 0.15,
        QuantMode.Nvfp4 => 0.18,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "not a low-precision mode"),
    };

    public static IEnumerable<ConformanceCase> Cases()
    {
        foreach (int m in new[] { 1, 7, 83 })
            yield return new ConformanceCase($"lowprec/block_fp8/linear/bf16/m={m}/n=136/k=200", "lowprec",
                d => BlockFp8Linear(d, DType.BF16, m, 136, 200, sampleRows: 0)) { Variants = t => Fp8Rule(t, m, 136, 200) };
        yield return new ConformanceCase("lowprec/block_fp8/linear/bf16/m=1000/n=136/k=136", "lowprec",
            d => BlockFp8Linear(d, DType.BF16, 1000, 136, 136, sampleRows: 0)) { Variants = t => Fp8Rule(t, 1000, 136, 136) };
        yield return new ConformanceCase("lowprec/block_fp8/linear/f16/m=83/n=256/k=384", "lowprec",
            d => BlockFp8Linear(d, DType.F16, 83, 256, 384, sampleRows: 0)) { Variants = t => Fp8Rule(t, 83, 256, 384) };
        yield return new ConformanceCase("lowprec/block_fp8/linear/zero-block/m=7/n=130/k=260", "lowprec", d => BlockFp8ZeroBlocks(d));
        yield return new ConformanceCase("lowprec/block_fp8/graph-replay/m=83", "lowprec", d => BlockFp8Replay(d));
        // Every GEMM kernel the launcher can pick on any GPU, run on this one (on Hopper: wgmma, the rule's
        // pick there, and mma.sync, the pick on sm_89), against one float64 reference.
        yield return new ConformanceCase("lowprec/block_fp8/gemm/every-variant/bf16/m=83/n=136/k=384", "lowprec",
            d => BlockFp8EveryVariant(d, DType.BF16, 83, 136, 384)) { Variants = Fp8Supported };
        yield return new ConformanceCase("lowprec/block_fp8/gemm/every-variant/f16/m=1/n=264/k=200", "lowprec",
            d => BlockFp8EveryVariant(d, DType.F16, 1, 264, 200)) { Variants = Fp8Supported };
        yield return new ConformanceCase("lowprec/block_fp8/gemm/every-variant/bf16/m=130/n=300/k=1000", "lowprec",
            d => BlockFp8EveryVariant(d, DType.BF16, 130, 300, 1000)) { Variants = Fp8Supported };

        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
            foreach (var group in new[] { GroupSize.Of(128), GroupSize.PerChannel })
            {
                string g = group.IsPerChannel ? "channel" : group.ToString();
                yield return new ConformanceCase($"lowprec/w4afp8/{layout}/{g}/e=4/n=136/k=200", "lowprec",
                    d => W4AFp8Experts(d, layout, group, new[] { 5, 0, 83, 1 }, 136, 200, sampleRows: 0)) { Variants = _ => new[] { W4AFp8GroupGemm.Variant(layout, !group.IsPerChannel) } };
            }
        yield return new ConformanceCase("lowprec/w4afp8/PrefixSum/g128/e=3/n=24/k=264/m=1000", "lowprec",
            d => W4AFp8Experts(d, TokenLayout.PrefixSum, GroupSize.Of(128), new[] { 700, 299, 1 }, 24, 264, sampleRows: 0)) { Variants = _ => new[] { W4AFp8GroupGemm.Variant(TokenLayout.PrefixSum, grouped: true) } };
        yield return new ConformanceCase("lowprec/w4afp8/graph-replay", "lowprec", d => ExpertReplay(d, QuantMode.W4AFp8));

        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
            yield return new ConformanceCase($"lowprec/nvfp4/{layout}/e=4/n=136/k=200", "lowprec",
                d => Nvfp4Experts(d, layout, DType.BF16, new[] { 5, 0, 83, 1 }, 136, 200, sampleRows: 0)) { Variants = _ => new[] { Nvfp4GroupGemm.Variant(layout) } };
        yield return new ConformanceCase("lowprec/nvfp4/PrefixSum/f16/e=2/n=136/k=256/m=1000", "lowprec",
            d => Nvfp4Experts(d, TokenLayout.PrefixSum, DType.F16, new[] { 7, 993 }, 136, 256, sampleRows: 0)) { Variants = _ => new[] { Nvfp4GroupGemm.Variant(TokenLayout.PrefixSum) } };
        yield return new ConformanceCase("lowprec/nvfp4/graph-replay", "lowprec", d => ExpertReplay(d, QuantMode.Nvfp4));
        yield return new ConformanceCase("lowprec/nvfp4/native-backend-refused", "lowprec", d => Nvfp4NativeRefused(d)) { Exclusive = true };

        // Full tier: the benchmark shapes, every row against the oracle (exact 12-bit products, see Float64.MatMulT).
        foreach (var (m, n, k) in new[] { (128, 4096, 7168), (1024, 7168, 4096), (4096, 7168, 7168) })
            yield return new ConformanceCase($"lowprec/block_fp8/linear/full/m={m}/n={n}/k={k}", "lowprec",
                d => BlockFp8Linear(d, DType.BF16, m, n, k, sampleRows: 0), CaseTier.Full) { Variants = t => Fp8Rule(t, m, n, k) };
        // w4afp8 at FastDeploy PR #3171's K with a reduced N (the host oracle of 8 x 7168 x 8192 weights is too big);
        // the full 8 x 7168 x 8192 shape runs in the benchmark.
        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
            yield return new ConformanceCase($"lowprec/w4afp8/full/{layout}/e=8/n=1024/k=8192/m=512", "lowprec",
                d => W4AFp8Experts(d, layout, GroupSize.Of(128), Enumerable.Repeat(512, 8).ToArray(), 1024, 8192, sampleRows: 0), CaseTier.Full) { Variants = _ => new[] { W4AFp8GroupGemm.Variant(layout, grouped: true) } };
        yield return new ConformanceCase("lowprec/nvfp4/full/PrefixSum/e=8/n=2048/k=7168/m=16", "lowprec",
            d => Nvfp4Experts(d, TokenLayout.PrefixSum, DType.BF16, new[] { 3, 0, 1, 16, 2, 5, 0, 9 }, 2048, 7168, sampleRows: 0), CaseTier.Full) { Variants = _ => new[] { Nvfp4GroupGemm.Variant(TokenLayout.PrefixSum) } };
    }

    /// <summary>The block_fp8 kernel the launcher's rule picks on the target (none without fp8 tensor cores).</summary>
    private static IReadOnlyList<string> Fp8Rule(LaunchTarget t, int m, int n, int k) =>
        BlockFp8Gemm.ChoosableVariants(t.ComputeMajor, t.ComputeMinor).Count == 0 ? Array.Empty<string>()
            : new[] { BlockFp8Gemm.KernelName(BlockFp8Gemm.ChooseVariant(t.ComputeMajor, t.ComputeMinor, m, n, Fp8Quant.Pad128(k))) };

    /// <summary>Every block_fp8 kernel that can run on the target: what the every-variant cases force in turn.</summary>
    private static IReadOnlyList<string> Fp8Supported(LaunchTarget t) =>
        BlockFp8Gemm.SupportedVariants(t.ComputeMajor, t.ComputeMinor).Select(BlockFp8Gemm.KernelName).ToArray();

    // ------------------------------------------------------------------ block_wise_fp8

    private static CaseResult BlockFp8Linear(Device device, DType dtype, int m, int n, int k, int sampleRows)
    {
        int padded = m + 5;                          // rows [m, padded) are padding, filled with NaN
        using var rig = new Rig(device, padded, m);
        var w = RandomValues(n * k, 11, 0.05f, dtype);
        using var wBuf = device.AllocateTensor(dtype, new long[] { n, k }, out var wT, "w");
        wT.UploadFloats(w);
        using var method = BlockWiseFp8LinearMethod.Quantize(rig.Context, wT);
        var x = RandomActivations(padded, k, m, 12, dtype);
        using var xb = rig.Pool.RentTensor(dtype, new long[] { padded, k }, out var xT, "x");
        using var yb = rig.Pool.RentTensor(dtype, new long[] { padded, n }, out var yT, "y");
        xT.UploadFloats(x);
        yT.Poison(rig.Stream);
        method.Forward(rig.Stream, xT, yT, padded, rig.TokenCount);
        rig.Stream.Synchronize();
        var y = yT.DownloadFloats().AsSpan(0, m * n).ToArray();

        // Quantizers: the device's bytes are the host definition's.
        int kp = Fp8Quant.Pad128(k), np = Fp8Quant.Pad128(n);
        var hostQ = new byte[(long)np * kp];
        var hostS = new float[np / 128 * (kp / 128)];
        Fp8Quant.HostQuantizeWeights(w, n, k, hostQ, hostS);
        var (aq, asc) = method.ActivationWorkspace;
        var devAq = aq.SliceRows(0, m).DownloadBytes();
        var devAs = asc.SliceRows(0, m).ToArray<float>();
        var hostAq = new byte[m * kp];
        var hostAs = new float[m * (kp / 128)];
        Parallel.For(0, m, r => HostQuantizeActRow(x, r, k, Fp8ActScaling.PerToken128, hostAq.AsSpan(r * kp, kp), hostAs.AsSpan(r * (kp / 128), kp / 128)));
        // The oracle multiplies the host quantizer's codes (e4m3 values, exact in fp32 products) block by block
        // with both scales, never the device's bytes.
        var rows = SampleRows(m, sampleRows);
        var expected = BlockFp8Oracle(hostAq, hostAs, hostQ, hostS, m, n, kp);
        return CaseResult.All(
            Checks.Equal("weight e4m3 bytes vs host quantizer", hostQ, method.Stored.Weights.DownloadBytes()),
            Checks.Equal("activation e4m3 bytes vs host quantizer", hostAq, devAq),
            Checks.BitEqual("activation 1x128 scales vs host quantizer", hostAs, devAs),
            Checks.Close($"block_fp8 [{m}x{k}]·[{n}x{k}]ᵀ vs float64 on the host's quantized operands", expected, y, n, KernelTolerance(dtype)),
            FormatCheck(QuantMode.BlockWiseFp8, x, w, y, rows, n, k));
    }

    /// <summary>
    /// One bf16 forward of a quantized-activation Linear over <paramref name="m"/> rows of <paramref name="x"/> into a
    /// NaN-poisoned output: the output, and the first m rows of the activation scales the method computed on the way.
    /// </summary>
    private static (float[] Y, float[] Scales) ForwardOnce(Rig rig, GraphEngine.Layers.Methods.ILinearMethod method,
        Func<Tensor> activationScales, float[] x, int m)
    {
        int k = method.InFeatures, n = method.OutFeatures;
        using var xb = rig.Pool.RentTensor(DType.BF16, new long[] { m, k }, out var xT, "x");
        using var yb = rig.Pool.RentTensor(DType.BF16, new long[] { m, n }, out var yT, "y");
        xT.UploadFloats(x);
        yT.Poison(rig.Stream);
        method.Forward(rig.Stream, xT, yT, m, rig.TokenCount);
        rig.Stream.Synchronize();
        return (yT.DownloadFloats(), activationScales().SliceRows(0, m).ToArray<float>());
    }

    // Whole 128x128 weight blocks and 1x128 activation groups of zeros: scale 0, q 0, output still finite and exact.
    private static CaseResult BlockFp8ZeroBlocks(Device device)
    {
        const int m = 7, n = 130, k = 260;
        using var rig = new Rig(device, m, m);
        var w = RandomValues(n * k, 21, 0.05f, DType.BF16);
        for (int r = 0; r < 128; r++) for (int c = 0; c < 128; c++) w[r * k + c] = 0;
        var x = RandomActivations(m, k, m, 22, DType.BF16);
        for (int r = 0; r < m; r++) for (int c = 128; c < 256; c++) x[r * k + c] = 0;
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { n, k }, out var wT, "w");
        wT.UploadFloats(w);
        using var method = BlockWiseFp8LinearMethod.Quantize(rig.Context, wT);
        var (y, scales) = ForwardOnce(rig, method, () => method.ActivationWorkspace.Scales, x, m);
        var wDeq = method.DequantizedWeights();
        int kp = Fp8Quant.Pad128(k), np = Fp8Quant.Pad128(n), kb = kp / 128;
        var hostQ = new byte[np * kp];
        var hostS = new float[np / 128 * kb];
        Fp8Quant.HostQuantizeWeights(w, n, k, hostQ, hostS);
        var aq = new byte[m * kp];
        var asc = new float[m * kb];
        for (int r = 0; r < m; r++) HostQuantizeActRow(x, r, k, Fp8ActScaling.PerToken128, aq.AsSpan(r * kp, kp), asc.AsSpan(r * kb, kb));
        return CaseResult.All(
            Checks.True(Enumerable.Range(0, m).All(r => scales[r * 3 + 1] == 0f), "all-zero 1x128 groups get scale 0"),
            Checks.True(wDeq.Take(128).All(v => v == 0f), "all-zero 128x128 weight block dequantizes to 0"),
            Checks.Equal("weight e4m3 bytes vs host quantizer", hostQ, method.Stored.Weights.DownloadBytes()),
            Checks.Close("block_fp8 with zero blocks vs float64", BlockFp8Oracle(aq, asc, hostQ, hostS, m, n, kp), y, n, KernelTolerance(DType.BF16)));
    }

    // The GEMM alone on host-quantized operands, once per kernel variant this device can run (the CUDA
    // launcher's rule picks one per GPU: BlockFp8Gemm.ChooseVariant; conformance forces each in turn so
    // `check` on Hopper also covers the sm_89 kernel). Rows past the device token count hold NaN bytes and
    // NaN scales and must be neither read nor written.
    private static CaseResult BlockFp8EveryVariant(Device device, DType dtype, int m, int n, int k)
    {
        int padded = m + 5;
        using var rig = new Rig(device, padded, m);
        int kp = Fp8Quant.Pad128(k), np = Fp8Quant.Pad128(n), kb = kp / Fp8Quant.Block;
        var w = RandomValues((long)n * k, 41, 0.05f, dtype);
        var x = RandomActivations(padded, k, m, 42, dtype);
        var wq = new byte[(long)np * kp];
        var ws = new float[np / Fp8Quant.Block * kb];
        Fp8Quant.HostQuantizeWeights(w, n, k, wq, ws);
        var aq = new byte[(long)padded * kp];
        var asc = new float[padded * kb];
        for (int r = 0; r < padded; r++)
        {
            if (r < m) HostQuantizeActRow(x, r, k, Fp8ActScaling.PerToken128, aq.AsSpan(r * kp, kp), asc.AsSpan(r * kb, kb));
            else { aq.AsSpan(r * kp, kp).Fill(0x7F); asc.AsSpan(r * kb, kb).Fill(float.NaN); }   // e4m3 0x7F is NaN
        }

        // float64 with the kernel's definition: each 128-wide K block's exact partial, times both scales.
        var expected = new double[(long)m * n];
        Parallel.For(0, m, r =>
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int b = 0; b < kb; b++)
                {
                    double part = 0;
                    for (int c = b * Fp8Quant.Block; c < (b + 1) * Fp8Quant.Block; c++)
                        part += (double)Fp8Quant.Decode(aq[(long)r * kp + c]) * Fp8Quant.Decode(wq[(long)j * kp + c]);
                    acc += part * asc[r * kb + b] * ws[j / Fp8Quant.Block * kb + b];
                }
                expected[(long)r * n + j] = acc;
            }
        });

        using var ab = rig.Pool.RentTensor(DType.Fp8E4M3, new long[] { padded, kp }, out var aT, "a q");
        using var sb = rig.Pool.RentTensor(DType.F32, new long[] { padded, kb }, out var asT, "a scales");
        using var wb = rig.Pool.RentTensor(DType.Fp8E4M3, new long[] { np, kp }, out var wT, "w q");
        using var wsb = rig.Pool.RentTensor(DType.F32, new long[] { np / Fp8Quant.Block, kb }, out var wsT, "w scales");
        using var cb = rig.Pool.RentTensor(dtype, new long[] { padded, n }, out var cT, "c");
        aT.UploadBytes(aq);
        asT.UploadFloats(asc);
        wT.UploadBytes(wq);
        wsT.UploadFloats(ws);

        var info = device.Info;
        BlockFp8GemmVariant?[] variants = info.Backend == BackendKind.Cuda
            ? BlockFp8Gemm.SupportedVariants(info.ComputeMajor, info.ComputeMinor).Select(v => (BlockFp8GemmVariant?)v).ToArray()
            : new BlockFp8GemmVariant?[] { null };
        if (variants.Length == 0) return CaseResult.Fail($"no block_fp8 GEMM variant runs on {info.Name} ({info.Architecture})");
        var checks = new List<CaseResult>();
        foreach (var variant in variants)
        {
            string label = variant?.ToString() ?? "reference";
            var gemm = BlockFp8Gemm.Create(device, variant);
            gemm.Prepare(dtype);
            cT.Poison(rig.Stream);
            gemm.MatMul(rig.Stream, aT, asT, wT, wsT, cT, padded, rig.TokenCount);
            rig.Stream.Synchronize();
            var y = cT.DownloadFloats();
            checks.Add(Checks.Close($"block_fp8 GEMM {label} [{m}x{k}]·[{n}x{k}]ᵀ vs float64", expected, y.AsSpan(0, m * n), n, KernelTolerance(dtype)));
            checks.Add(Checks.True(y.AsSpan(m * n).ToArray().All(float.IsNaN), $"{label}: rows past the token count left unwritten"));
        }
        return CaseResult.All(checks.ToArray());
    }

    // Capture at one token count, replay at another: the replay equals an eager run bit for bit.
    private static CaseResult BlockFp8Replay(Device device)
    {
        const int padded = 96, n = 136, k = 200;
        using var rig = new Rig(device, padded, 83);
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { n, k }, out var wT, "w");
        wT.UploadFloats(RandomValues(n * k, 31, 0.05f, DType.BF16));
        using var method = BlockWiseFp8LinearMethod.Quantize(rig.Context, wT);
        using var xb = rig.Pool.RentTensor(DType.BF16, new long[] { padded, k }, out var xT, "x");
        using var yb = rig.Pool.RentTensor(DType.BF16, new long[] { padded, n }, out var yT, "y");
        xT.UploadFloats(RandomActivations(padded, k, 83, 32, DType.BF16));
        return LinearReplayEqualsEager(rig, method, xT, yT, padded, k, n, 61, 33, "block_fp8", tailUnwritten: false);
    }

    /// <summary>
    /// Captures <paramref name="method"/>'s forward at the rig's token count, then, as a new step with
    /// <paramref name="replayedTokens"/> tokens and other inputs through the same addresses, compares the replay with an
    /// eager run bit for bit; with <paramref name="tailUnwritten"/>, the rows past the new count must stay poisoned.
    /// </summary>
    private static CaseResult LinearReplayEqualsEager(Rig rig, GraphEngine.Layers.Methods.ILinearMethod method, Tensor xT, Tensor yT,
        int padded, int k, int n, int replayedTokens, uint seed, string label, bool tailUnwritten)
    {
        rig.Stream.BeginCapture();
        DeviceGraph graph;
        try
        {
            method.Forward(rig.Stream, xT, yT, padded, rig.TokenCount);
        }
        finally
        {
            graph = rig.Stream.EndCapture();
        }
        using (graph)
        {
            rig.SetTokens(replayedTokens);
            xT.UploadFloats(RandomActivations(padded, k, replayedTokens, seed, DType.BF16));
            yT.Poison(rig.Stream);
            graph.Launch(rig.Stream);
            rig.Stream.Synchronize();
            var replayedAll = yT.DownloadFloats();
            var replayed = replayedAll.AsSpan(0, replayedTokens * n).ToArray();
            yT.Poison(rig.Stream);
            method.Forward(rig.Stream, xT, yT, padded, rig.TokenCount);
            rig.Stream.Synchronize();
            var eager = yT.DownloadFloats().AsSpan(0, replayedTokens * n).ToArray();
            var checks = new List<CaseResult> { Checks.True(ErrorMetrics.FirstNonFinite(replayed) < 0, "replay wrote every valid row") };
            if (tailUnwritten)
                checks.Add(Checks.True(replayedAll.AsSpan(replayedTokens * n).ToArray().All(float.IsNaN), "replay left rows past the new count unwritten"));
            checks.Add(Checks.BitEqual($"{label} replay at n={replayedTokens} vs eager", eager, replayed));
            return CaseResult.All(checks.ToArray());
        }
    }

    // ------------------------------------------------------------------ MoE: w4afp8 and nvfp4

    private sealed class ExpertRun
    {
        public required float[] A;            // layer-type values of A as laid out on the device
        public required int[] RowExpert;      // expert of each valid row (-1 for padding)
        public required int[] ValidRows;      // indices of valid rows in A / C
        public required float[] C;            // device output (all rows)
        public required DType OutputType;     // bf16 or fp16
    }

    private static (TokenLayout, int rowsBound, int totalRows, int[] offsets, int[] rowExpert) Layout(TokenLayout layout, int[] counts)
    {
        int e = counts.Length;
        if (layout == TokenLayout.PrefixSum)
        {
            int total = counts.Sum(), bound = total + 3;        // 3 padding rows past the last expert
            var off = new int[e + 1];
            for (int i = 0; i < e; i++) off[i + 1] = off[i] + counts[i];
            var rowExpert = Enumerable.Repeat(-1, bound).ToArray();
            for (int i = 0; i < e; i++) for (int r = off[i]; r < off[i + 1]; r++) rowExpert[r] = i;
            return (layout, bound, bound, off, rowExpert);
        }
        else
        {
            int p = counts.Max() + 2;                          // every slab has at least 2 padding rows
            var rowExpert = Enumerable.Repeat(-1, e * p).ToArray();
            for (int i = 0; i < e; i++) for (int r = 0; r < counts[i]; r++) rowExpert[i * p + r] = i;
            return (layout, p, e * p, counts.ToArray(), rowExpert);
        }
    }

    private static ExpertRun RunExperts(Rig rig, IMoeMethod method, TokenLayout layout, int[] counts, int n, int k, DType dtype, uint seed)
    {
        var (_, bound, total, offsets, rowExpert) = Layout(layout, counts);
        int e = counts.Length;
        var valid = Enumerable.Range(0, total).Where(r => rowExpert[r] >= 0).ToArray();
        var a = RandomValues(total * k, seed, 1f, dtype);
        Parallel.For(0, total, r =>
        {
            float rowScale = 1 + r % 5;
            for (int c = 0; c < k; c++) a[r * k + c] = rowExpert[r] < 0 ? float.NaN : Round(a[r * k + c] * rowScale, dtype);
        });
        long[] aShape = layout == TokenLayout.PrefixSum ? new long[] { total, k } : new long[] { e, bound, k };
        long[] cShape = layout == TokenLayout.PrefixSum ? new long[] { total, n } : new long[] { e, bound, n };
        using var ab = rig.Pool.RentTensor(dtype, aShape, out var aT, "A");
        using var cb = rig.Pool.RentTensor(dtype, cShape, out var cT, "C");
        using var ob = rig.Pool.RentTensor(DType.I32, new long[] { offsets.Length }, out var oT, "offsets");
        aT.UploadFloats(a);
        oT.UploadInts(offsets);
        cT.Poison(rig.Stream);
        method.Forward(rig.Stream, new GroupGemmProblem(layout, e, n, k, bound, aT, oT, cT));
        rig.Stream.Synchronize();
        return new ExpertRun { A = a, RowExpert = rowExpert, ValidRows = valid, C = cT.DownloadFloats(), OutputType = dtype };
    }

    private static CaseResult W4AFp8Experts(Device device, TokenLayout layout, GroupSize group, int[] counts, int n, int k, int sampleRows)
    {
        int e = counts.Length;
        var (_, _, total, _, _) = Layout(layout, counts);
        using var rig = new Rig(device, total, total);
        var w = RandomValues((long)e * n * k, 41, 0.05f, DType.BF16);
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { e, n, k }, out var wT, "w");
        wT.UploadFloats(w);
        using var method = W4AFp8MoeMethod.Quantize(rig.Context, wT, total, group);
        var run = RunExperts(rig, method, layout, counts, n, k, DType.BF16, 42);

        // Host definition of every expert's weight bytes.
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = W4AFp8GroupGemm.ScaleGroups(kp, !group.IsPerChannel);
        var parts = new List<CaseResult>();
        var (qT, sT) = method.Stored;
        var devQ = qT.ToArray<byte>();
        var devS = sT.ToArray<float>();
        var checkedExperts = Enumerable.Range(0, e).ToArray();
        var hostQ = new byte[e][];
        var hostS = new float[e][];
        Parallel.For(0, e, i =>
        {
            hostQ[i] = new byte[np * kp / 2];
            hostS[i] = new float[groups * np];
            W4AFp8GroupGemm.HostQuantize(w.AsSpan((int)((long)checkedExperts[i] * n * k), n * k), n, k, !group.IsPerChannel, hostQ[i], hostS[i]);
        });
        for (int i = 0; i < e; i++)
        {
            int x = checkedExperts[i];
            var (hq, hs) = (hostQ[i], hostS[i]);
            parts.Add(Checks.Equal($"expert {x} int4 bytes vs host quantizer", hq, devQ.AsSpan(x * hq.Length, hq.Length).ToArray()));
            parts.Add(Checks.BitEqual($"expert {x} scales vs host quantizer", hs, devS.AsSpan(x * hs.Length, hs.Length).ToArray()));
        }
        // Per-token activation bytes on the valid rows.
        var (aq, asc) = method.ActivationWorkspace;
        var devAq = aq.SliceRows(0, total).DownloadBytes();
        var devAs = asc.SliceRows(0, total).ToArray<float>();
        var rows = SampleRows(run.ValidRows, sampleRows);
        var codes = new float[(long)rows.Length * kp];
        var rowScales = new float[rows.Length];
        int mismatched = 0;
        Parallel.For(0, rows.Length, i =>
        {
            int r = rows[i];
            var q = new byte[kp];
            var s = new float[1];
            HostQuantizeActRow(run.A, r, k, Fp8ActScaling.PerToken, q, s);
            if (!q.AsSpan().SequenceEqual(devAq.AsSpan(r * kp, kp)) || BitConverter.SingleToInt32Bits(s[0]) != BitConverter.SingleToInt32Bits(devAs[r]))
                Interlocked.Increment(ref mismatched);
            for (int c = 0; c < kp; c++) codes[(long)i * kp + c] = Fp8Quant.Decode(q[c]);
            rowScales[i] = s[0];
        });
        parts.Add(Checks.True(mismatched == 0, $"per-token e4m3 activations vs host quantizer: {mismatched} of {rows.Length} rows differ"));
        parts.Add(ExpertKernelCheck("w4afp8", QuantMode.W4AFp8, group, w, method, run, rows, codes, rowScales, kp, n, k));
        parts.Add(ExpertFormatCheck(QuantMode.W4AFp8, w, run, rows, n, k));
        return CaseResult.All(parts.ToArray());
    }

    private static CaseResult Nvfp4Experts(Device device, TokenLayout layout, DType dtype, int[] counts, int n, int k, int sampleRows)
    {
        int e = counts.Length;
        var (_, _, total, _, _) = Layout(layout, counts);
        using var rig = new Rig(device, total, total);
        var w = RandomValues((long)e * n * k, 51, 0.05f, dtype);
        for (int x = 0; x < e; x++) w[(long)x * n * k] *= 8;        // one outlier per expert: global scale varies
        using var wBuf = device.AllocateTensor(dtype, new long[] { e, n, k }, out var wT, "w");
        wT.UploadFloats(w);
        w = wT.DownloadFloats();                                     // the bf16/fp16 values the device quantized
        using var method = Nvfp4MoeMethod.Quantize(rig.Context, wT);
        var run = RunExperts(rig, method, layout, counts, n, k, dtype, 52);

        int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k);
        var (qT, sT, gT) = method.Stored;
        var devQ = qT.ToArray<byte>();
        var devS = sT.ToArray<byte>();
        var devG = gT.ToArray<float>();
        var parts = new List<CaseResult>();
        var checkedExperts = Enumerable.Range(0, e).ToArray();
        var hostQ = new byte[e][];
        var hostS = new byte[e][];
        var hostG = new float[e];
        Parallel.For(0, e, i =>
        {
            hostQ[i] = new byte[np * kp / 2];
            hostS[i] = new byte[np * kp / Nvfp4GroupGemm.BlockSize];
            hostG[i] = Nvfp4GroupGemm.HostQuantize(w.AsSpan((int)((long)checkedExperts[i] * n * k), n * k), n, k, hostQ[i], hostS[i]);
        });
        for (int i = 0; i < e; i++)
        {
            int x = checkedExperts[i];
            var (hq, hs, hg) = (hostQ[i], hostS[i], hostG[i]);
            parts.Add(Checks.Equal($"expert {x} e2m1 bytes vs host quantizer", hq, devQ.AsSpan(x * hq.Length, hq.Length).ToArray()));
            parts.Add(Checks.Equal($"expert {x} e4m3 block scales vs host quantizer", hs, devS.AsSpan(x * hs.Length, hs.Length).ToArray()));
            parts.Add(Checks.BitEqual($"expert {x} global scale vs host quantizer", new[] { hg }, new[] { devG[x] }));
        }
        var rows = SampleRows(run.ValidRows, sampleRows);
        var acts = new float[(long)rows.Length * k];
        for (int i = 0; i < rows.Length; i++) Array.Copy(run.A, (long)rows[i] * k, acts, (long)i * k, k);
        parts.Add(ExpertKernelCheck("nvfp4", QuantMode.Nvfp4, GroupSize.PerChannel, w, method, run, rows, acts, null, k, n, k));
        parts.Add(ExpertFormatCheck(QuantMode.Nvfp4, w, run, rows, n, k));
        return CaseResult.All(parts.ToArray());
    }

    /// <summary>
    /// The group GEMM against float64 on the host's quantization of the source weights (every expert's device
    /// weights must equal it bit for bit and lie within half a step of the source) and the activations
    /// <paramref name="acts"/> [rows, <paramref name="kdim"/>] (e4m3 codes with <paramref name="rowScales"/>, or
    /// the 16-bit values themselves).
    /// </summary>
    private static CaseResult ExpertKernelCheck(string what, QuantMode mode, GroupSize group, float[] w, IMoeMethod method, ExpertRun run,
                                                int[] rows, float[] acts, float[]? rowScales, int kdim, int n, int k)
    {
        var expected = new double[(long)rows.Length * n];
        var actual = Pick(run.C, rows, n);
        var byExpert = RowsByExpert(run, rows);
        int e = w.Length / (n * k);
        var mismatched = new int[e];
        var halfOk = new bool[e];
        var ops = new MoeCases.ExpertOperands[e];
        Parallel.For(0, e, x =>
        {
            ops[x] = MoeCases.QuantizeExpert(mode, group, w.AsMemory((int)((long)x * n * k), n * k), n, k);
            mismatched[x] = ErrorMetrics.BitMismatches(ops[x].Dequantized.Span, method.DequantizedWeights(x));
            halfOk[x] = ops[x].HalfStepWorst <= 1;
        });
        foreach (var (ex, mine) in byExpert)
        {
            var op = ops[ex];
            int groups = op.Group == 0 ? 1 : kdim / op.Group;
            var a = new float[(long)mine.Length * kdim];
            float[]? aS = rowScales is null ? null : new float[mine.Length * groups];
            for (int p = 0; p < mine.Length; p++)
            {
                Array.Copy(acts, (long)mine[p] * kdim, a, (long)p * kdim, kdim);
                if (aS is not null) for (int g = 0; g < groups; g++) aS[p * groups + g] = rowScales![mine[p]];
            }
            var y = Float64.MatMulT(a, mine.Length, op.Values, n, kdim, op.Group, aS, op.Scales);
            for (int p = 0; p < mine.Length; p++) Array.Copy(y, (long)p * n, expected, (long)mine[p] * n, n);
        }
        return CaseResult.All(
            Checks.True(mismatched.Sum() == 0, $"{what} device weights vs host quantizer, every expert: {mismatched.Sum()} values differ"),
            Checks.True(halfOk.All(v => v), $"{what} host-quantized weights within half a step of the source: {halfOk.Count(v => !v)} experts outside"),
            Checks.Close($"{what} group GEMM ({rows.Length} rows) vs float64 on the host's quantized operands", expected, actual, n, GroupKernelTolerance(run.OutputType)));
    }

    private static CaseResult ExpertFormatCheck(QuantMode mode, float[] w, ExpertRun run, int[] rows, int n, int k)
    {
        var expected = new double[(long)rows.Length * n];
        foreach (var (ex, mine) in RowsByExpert(run, rows))
        {
            var xs = new float[(long)mine.Length * k];
            for (int p = 0; p < mine.Length; p++) Array.Copy(run.A, (long)rows[mine[p]] * k, xs, (long)p * k, k);
            var y = Float64.MatMulT(xs, mine.Length, w.AsMemory((int)((long)ex * n * k), n * k), n, k);
            for (int p = 0; p < mine.Length; p++) Array.Copy(y, (long)p * n, expected, (long)mine[p] * n, n);
        }
        return Checks.Close($"{mode.Label()} format error vs unquantized inputs", expected, Pick(run.C, rows, n), FormatBound(mode), FormatReason(mode));
    }

    /// <summary>The positions in <paramref name="rows"/> of each expert's rows, experts in first-seen order.</summary>
    private static (int Expert, int[] Positions)[] RowsByExpert(ExpertRun run, int[] rows)
    {
        var order = new List<int>();
        var positions = new Dictionary<int, List<int>>();
        for (int i = 0; i < rows.Length; i++)
        {
            int ex = run.RowExpert[rows[i]];
            if (!positions.TryGetValue(ex, out var list))
            {
                positions[ex] = list = new List<int>();
                order.Add(ex);
            }
            list.Add(i);
        }
        return order.Select(ex => (ex, positions[ex].ToArray())).ToArray();
    }

    // Capture with one set of expert counts, replay with another: equals an eager run bit for bit.
    private static CaseResult ExpertReplay(Device device, QuantMode mode)
    {
        const int e = 3, n = 136, k = 200, bound = 40;
        using var rig = new Rig(device, bound, bound);
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { e, n, k }, out var wT, "w");
        wT.UploadFloats(RandomValues((long)e * n * k, 61, 0.05f, DType.BF16));
        using IMoeMethod method = mode switch
        {
            QuantMode.W4AFp8 => W4AFp8MoeMethod.Quantize(rig.Context, wT, bound),
            QuantMode.W8A8 or QuantMode.W4A8 => Int8ActMoeMethod.Quantize(rig.Context, wT, mode, GroupSize.PerChannel, bound),
            _ => Nvfp4MoeMethod.Quantize(rig.Context, wT),
        };
        using var ab = rig.Pool.RentTensor(DType.BF16, new long[] { bound, k }, out var aT, "A");
        using var cb = rig.Pool.RentTensor(DType.BF16, new long[] { bound, n }, out var cT, "C");
        using var ob = rig.Pool.RentTensor(DType.I32, new long[] { e + 1 }, out var oT, "offsets");
        var problem = new GroupGemmProblem(TokenLayout.PrefixSum, e, n, k, bound, aT, oT, cT);
        aT.UploadFloats(RandomValues((long)bound * k, 62, 1f, DType.BF16));
        oT.UploadInts(new[] { 0, 10, 10, 30 });
        rig.Stream.BeginCapture();
        DeviceGraph graph;
        try
        {
            method.Forward(rig.Stream, problem);
        }
        finally
        {
            graph = rig.Stream.EndCapture();
        }
        using (graph)
        {
            var offsets = new[] { 0, 3, 20, 37 };                    // other counts, one empty expert gone
            oT.UploadInts(offsets);
            aT.UploadFloats(RandomValues((long)bound * k, 63, 1f, DType.BF16));
            cT.Poison(rig.Stream);
            graph.Launch(rig.Stream);
            rig.Stream.Synchronize();
            var replayed = cT.DownloadFloats().AsSpan(0, 37 * n).ToArray();
            cT.Poison(rig.Stream);
            method.Forward(rig.Stream, problem);
            rig.Stream.Synchronize();
            var eager = cT.DownloadFloats().AsSpan(0, 37 * n).ToArray();
            return CaseResult.All(
                Checks.True(ErrorMetrics.FirstNonFinite(replayed) < 0, "replay wrote every valid row"),
                Checks.BitEqual($"{mode.Label()} replay with new expert counts vs eager", eager, replayed));
        }
    }

    private static CaseResult Nvfp4NativeRefused(Device device)
    {
        using var rig = new Rig(device, 8, 8);
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { 1, 8, 16 }, out var wT, "w");
        long before = device.AllocatedBytes;
        try
        {
            using var b = Nvfp4MoeMethod.Quantize(rig.Context, wT, "flashinfer-cutlass");
            return CaseResult.Fail("nvfp4_backend 'flashinfer-cutlass' was accepted");
        }
        catch (QuantConfigException ex)
        {
            return CaseResult.All(
                Checks.True(ex.Message.Contains("flashinfer-cutlass") && ex.Message.Contains(QuantConfig.DefaultNvfp4Backend),
                    $"message names the value and the accepted one: {ex.Message}"),
                Checks.True(device.AllocatedBytes == before, "nothing allocated"));
        }
    }

    // ------------------------------------------------------------------ helpers

    private static string FormatReason(QuantMode mode) => mode switch
    {
        QuantMode.BlockWiseFp8 => "e4m3 on both sides, about 2.5% RMS each",
        QuantMode.W4AFp8 => "7 int4 levels per sign (about 7% RMS) plus e4m3 activations",
        _ => "e2m1 with e4m3 scale per 16 (about 10% RMS on uniform data)",
    };

    private static CaseResult FormatCheck(QuantMode mode, float[] x, float[] w, float[] y, int[] rows, int n, int k)
    {
        var xs = new float[(long)rows.Length * k];
        for (int i = 0; i < rows.Length; i++) Array.Copy(x, (long)rows[i] * k, xs, (long)i * k, k);
        var expected = Float64.MatMulT(xs, rows.Length, w, n, k);
        return Checks.Close($"{mode.Label()} format error vs unquantized inputs", expected, Pick(y, rows, n), FormatBound(mode), FormatReason(mode));
    }

    private static double[] Oracle(double[] aDeq, float[] wDeq, int[] rows, int n, int k)
    {
        // aDeq holds the checked rows, row i of it being row rows[i] of the activations.
        var result = new double[(long)rows.Length * n];
        Float64.ForColumns(n, (long)rows.Length * k, (j0, j1) =>
        {
            for (int j = j0; j < j1; j++)
            {
                var wj = wDeq.AsSpan(j * k, k);
                for (int i = 0; i < rows.Length; i++) result[(long)i * n + j] = Float64.Dot(aDeq.AsSpan(i * k, k), wj);
            }
        });
        return result;
    }

    private static float[] Pick(float[] y, int[] rows, int n)
    {
        var result = new float[(long)rows.Length * n];
        for (int i = 0; i < rows.Length; i++) Array.Copy(y, (long)rows[i] * n, result, (long)i * n, n);
        return result;
    }

    private static int[] SampleRows(int m, int sample) => SampleRows(Enumerable.Range(0, m).ToArray(), sample);

    /// <summary>All rows, or an even spread of <paramref name="sample"/> of them that keeps the first and last.</summary>
    private static int[] SampleRows(int[] rows, int sample)
    {
        if (sample <= 0 || sample >= rows.Length) return rows;
        return Enumerable.Range(0, sample).Select(i => rows[(int)((long)i * (rows.Length - 1) / (sample - 1))]).Distinct().ToArray();
    }

    private static void HostQuantizeActRow(float[] x, int row, int k, Fp8ActScaling scaling, Span<byte> q, Span<float> scales) =>
        Fp8Quant.HostQuantizeRow(x.AsSpan(row * k, k), scaling, q, scales);

    private static float Round(float v, DType dtype) => HalfBits.ToFloat(HalfBits.FromFloat(v, dtype), dtype);

    /// <summary>Deterministic uniform values in [-scale, scale], already rounded to <paramref name="dtype"/>.</summary>
    private static float[] RandomValues(long count, uint seed, float scale, DType dtype)
    {
        var v = new float[count];
        Parallel.For(0, (int)((count + 65535) / 65536), blk =>
        {
            long end = Math.Min(count, (blk + 1) * 65536L);
            for (long i = blk * 65536L; i < end; i++) v[i] = Round(RandomFill.UniformValue(i, seed, scale, 0f), dtype);
        });
        return v;
    }

    /// <summary>Activations [rows, k]: rows past <paramref name="valid"/> are NaN; row scales vary so per-token scales differ.</summary>
    private static float[] RandomActivations(int rows, int k, int valid, uint seed, DType dtype)
    {
        var v = RandomValues((long)rows * k, seed, 1f, dtype);
        Parallel.For(0, rows, r =>
        {
            float s = 1 + r % 5;
            for (int c = 0; c < k; c++) v[(long)r * k + c] = r >= valid ? float.NaN : Round(v[(long)r * k + c] * s, dtype);
        });
        return v;
    }

    /// <summary>A pool, a device token count and a stream for one case; disposes all of it.</summary>
    private sealed class Rig : IDisposable
    {
        private readonly DeviceBuffer _tokens;
        private readonly Tensor _tokenTensor;

        public Rig(Device device, int maxTokens, int validTokens)
        {
            Pool = new DevicePool(device, initialBytes: 0, chunkBytes: 16L << 20);
            _tokens = device.AllocateTensor(DType.I32, new long[] { 1 }, out _tokenTensor, "token count");
            Stream = device.CreateStream();
            SetTokens(validTokens);
            Context = new LayerContext(device, Pool, maxTokens, _tokenTensor.Ptr);
        }

        public DevicePool Pool { get; }
        public ComputeStream Stream { get; }
        public LayerContext Context { get; }
        public DevicePtr TokenCount => _tokenTensor.Ptr;

        public void SetTokens(int n) => _tokenTensor.UploadInts(new[] { n });

        public void Dispose()
        {
            Stream.Dispose();
            Pool.Dispose();
            _tokens.Dispose();
        }
    }
}
