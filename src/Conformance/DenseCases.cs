using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Norm;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Conformance;

/// <summary>
/// Conformance cases of the Dense area: RMSNorm (plain and fused residual) and Linear in every dense
/// quant mode, against float64 oracles, with odd shapes, token counts between padded sizes, NaN in the
/// padded rows and NaN-poisoned outputs. Ci cases are small; Full cases are the large shapes.
/// </summary>
public static class DenseCases
{
    // 1-16 rows run the few-token GPU variant (1-8 and 9-16 differ), 37 the 64-token tile, 83 the 128-token one.
    private static readonly int[] CiTokens = { 1, 3, 7, 12, 37, 83 };

    public static IEnumerable<ConformanceCase> Cases()
    {
        foreach (var dtype in new[] { DType.BF16, DType.F16 })
            foreach (bool residual in new[] { false, true })
            {
                string v = residual ? "residual" : "plain";
                foreach (int hidden in new[] { 8, 769, 2560, 5125 })
                    foreach (int t in CiTokens)
                        if (dtype == DType.BF16 || t is 3 or 83)
                            yield return RmsNormOf($"dense/rmsnorm/{v}/{Name(dtype)}/t={t}/h={hidden}", dtype, residual, t, hidden);
                foreach (int hidden in new[] { 2560, 4096, 5125, 7168 })
                    yield return RmsNormOf($"dense/rmsnorm/{v}/{Name(dtype)}/t=1000/h={hidden}", dtype, residual, 1000, hidden, CaseTier.Full);
            }
        // Every (vector width, items per thread) instance the launcher can pick, each with the weight loaded early
        // (few rows) and late (more than two rows per SM): hidden sizes = 1, 2, 4 mod 8 and 0 mod 8, each in the
        // range of one items count, plain and residual alternating.
        for (int i = 0; i < RmsNormVariantHidden.Length; i++)
        {
            int hidden = RmsNormVariantHidden[i];
            bool residual = i % 2 == 1;
            string v = residual ? "residual" : "plain";
            if (hidden is not (769 or 5125))
                yield return RmsNormOf($"dense/rmsnorm/{v}/bf16/t=3/h={hidden}", DType.BF16, residual, 3, hidden);
            yield return RmsNormOf($"dense/rmsnorm/{v}/bf16/t=300/h={hidden}", DType.BF16, residual, 300, hidden, CaseTier.Full);
        }

        foreach (var (mode, group) in Modes)
        {
            string m = Label(mode, group);
            foreach (var dtype in new[] { DType.BF16, DType.F16 })
            {
                var ks = group.IsPerChannel ? new[] { 8, 769, 2560 } : new[] { 128, 2560 };
                int i = 0;
                foreach (int k in ks)
                    foreach (int t in CiTokens)
                    {
                        int n = new[] { 77, 40, 300, 17 }[i++ % 4];
                        if (dtype == DType.F16 && t is not (7 or 83)) continue;
                        if ((long)t * k * n > 40_000_000) continue;   // CI: keep each case well under 2 s on the reference
                        yield return LinearOf($"dense/linear/{m}/{Name(dtype)}/t={t}/k={k}/n={n}", dtype, mode, group, t, k, n, bias: i % 2 == 0);
                    }
                foreach (var (t, k, n) in new[] { (1000, group.IsPerChannel ? 5125 : 5120, 5125), (1, 4096, 4096), (16, 4096, 4096), (300, 2560, 2560), (1024, 4096, 4096), (5, 8192, 8192) })
                    yield return LinearOf($"dense/linear/{m}/{Name(dtype)}/t={t}/k={k}/n={n}", dtype, mode, group, t, k, n, bias: true, tier: CaseTier.Full);
                // The launcher picks its few-row variant from the padded (graph) size, which PaddedFor always
                // rounds past a multiple of 8; these pin the padded size so the 1-2, 3-8 and 9-16 row kernels,
                // a padded size equal to the token count, and the many-row path from its first padded size (17)
                // to 200 all run.
                foreach (var (t, padded, k, n) in new[] { (1, 1, 256, 77), (2, 2, 256, 40), (1, 2, 256, 77), (5, 8, 256, 40), (11, 16, 256, 77), (16, 16, 256, 40), (17, 17, 256, 77), (16, 24, 256, 77), (200, 200, 256, 40) })
                {
                    if (dtype == DType.F16 && t != 11) continue;
                    yield return LinearOf($"dense/linear/{m}/{Name(dtype)}/t={t}/s={padded}/k={k}/n={n}", dtype, mode, group, t, k, n, bias: true, padded);
                }
                // wo_gemv with two and four channel tiles per block (more 16-channel tiles than two blocks per SM
                // cover) in each row range, and the split-K kernel of 3-8 rows at a K whose 8 staged rows outgrow
                // shared memory.
                if (mode != QuantMode.None && dtype == DType.BF16)
                    foreach (var (t, padded, k, n) in new[] { (5, 8, 256, 4501), (11, 16, 256, 4501), (11, 16, 256, 8603), (5, 8, 16384, 40) })
                        yield return LinearOf($"dense/linear/{m}/bf16/t={t}/s={padded}/k={k}/n={n}", dtype, mode, group, t, k, n, bias: true, padded);
                // dense_gemv (bf16/fp16 at up to 16 rows, one 8-channel tile per SM or more): a channel tail (N % 8 != 0),
                // K with a partial last 32-wide chunk and split unevenly over the warps, 1-8 and 9-16 rows.
                if (mode == QuantMode.None)
                    foreach (var (t, padded, k, n) in new[] { (3, 8, 4104, 1100), (13, 16, 4360, 1061), (16, 16, 4104, 1501) })
                        yield return LinearOf($"dense/linear/{m}/{Name(dtype)}/t={t}/s={padded}/k={k}/n={n}", dtype, mode, group, t, k, n, bias: t != 13, padded);
                foreach (var (t, padded) in new[] { (9, 16), (16, 16) })
                    yield return LinearOf($"dense/linear/{m}/{Name(dtype)}/t={t}/s={padded}/k=8192/n=4096", dtype, mode, group, t, 8192, 4096, bias: true, padded, CaseTier.Full);
            }
            if (mode != QuantMode.None)
            {
                yield return new($"dense/quantize/{m}/device-bytes-match-host", "dense", d => QuantizerBytesCase(d, mode, group, 83, group.IsPerChannel ? 769 : 384));
                yield return new($"dense/quantize/{m}/offline-load", "dense", d => OfflineCase(d, mode, group, 40, group.IsPerChannel ? 770 : 256));
            }
            yield return new($"dense/linear/{m}/capture-replay", "dense", d => LinearCaptureCase(d, mode, group))
            {
                Variants = mode == QuantMode.None ? null : t => CaptureSizes.Select(s => WeightOnlyVariant(mode, group, CaptureN, CaptureK, s, t)).ToArray(),
            };
        }
        yield return new("dense/rmsnorm/capture-replay", "dense", RmsNormCaptureCase)
        {
            Variants = t => new[] { RmsNormKernel.Variant(CaptureHidden, CapturePadded, t) },
        };
    }

    private static ConformanceCase RmsNormOf(string name, DType dtype, bool residual, int tokens, int hidden, CaseTier tier = CaseTier.Ci) =>
        new(name, "dense", d => RmsNormCase(d, dtype, residual, tokens, hidden), tier)
        {
            Variants = t => new[] { RmsNormKernel.Variant(hidden, PaddedFor(tokens), t) },
        };

    /// <summary>A Linear case; it declares the kernel of ours its padded size runs (bf16/fp16 at many rows run cuBLASLt, none of ours).</summary>
    private static ConformanceCase LinearOf(string name, DType dtype, QuantMode mode, GroupSize group, int tokens, int k, int n, bool bias,
                                          int paddedSize = 0, CaseTier tier = CaseTier.Ci) =>
        new(name, "dense", d => LinearCase(d, dtype, mode, group, tokens, k, n, bias, paddedSize), tier)
        {
            Variants = t => mode == QuantMode.None
                ? (Gemm.Variant(paddedSize > 0 ? paddedSize : PaddedFor(tokens), n, k, t) is { } v ? new[] { v } : Array.Empty<string>())
                : new[] { WeightOnlyVariant(mode, group, n, k, paddedSize > 0 ? paddedSize : PaddedFor(tokens), t) },
        };

    /// <summary>The weight-only kernel a Linear runs at <paramref name="padded"/> rows under a plan for as many (its context's size).</summary>
    private static string WeightOnlyVariant(QuantMode mode, GroupSize group, int n, int k, int padded, LaunchTarget t) =>
        WeightOnlyGemm.Variant(Scheme(mode, group), n, k, padded, padded, t);

    private static WeightOnlyScheme Scheme(QuantMode mode, GroupSize group) =>
        new(mode == QuantMode.WInt8 ? WeightOnlyFormat.Int8 : WeightOnlyFormat.Int4, group);

    // vec 1: items 1, 2, 4, 8, 16; vec 2 and vec 4: items 1 to 16; vec 8: items 1, 4, 8 (2 is h = 2560 above).
    private static readonly int[] RmsNormVariantHidden =
        { 769, 1537, 3073, 5125, 12289, 770, 2050, 6146, 10242, 20482, 1028, 6148, 12292, 20484, 40964, 1032, 4104, 16392 };

    private static readonly (QuantMode Mode, GroupSize Group)[] Modes =
    {
        (QuantMode.None, GroupSize.PerChannel), (QuantMode.WInt8, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.PerChannel),
        (QuantMode.WInt4, GroupSize.Of(64)), (QuantMode.WInt4, GroupSize.Of(128)),
    };

    private static string Name(DType t) => t == DType.BF16 ? "bf16" : "fp16";
    private static string Label(QuantMode m, GroupSize g) => m.Label() + (g.IsPerChannel ? "" : $"-{g}");

    /// <summary>The padded size a graph would run for <paramref name="tokens"/>: the next multiple of 8 above it.</summary>
    internal static int PaddedFor(int tokens) => tokens / 8 * 8 + 8;

    /// <summary>Device, pool and token-count scalar for one case.</summary>
    internal sealed class Rig : IDisposable
    {
        private readonly DeviceBuffer _count;

        public Rig(Device device, int maxTokens)
        {
            Device = device;
            Pool = new DevicePool(device, 1L << 20, 16L << 20);
            _count = device.AllocateTensor(DType.I32, new long[] { 1 }, out var c, "token count");
            Count = c;
            Context = new LayerContext(device, Pool, maxTokens, c.Ptr);
            // Its own stream, never the device's default one: cases capture on it, and check runs cases of the kernel
            // areas side by side (a capture on a stream another thread launches into is invalid).
            Stream = device.CreateStream();
        }

        public Device Device { get; }
        public DevicePool Pool { get; }
        public Tensor Count { get; }
        public LayerContext Context { get; }
        public ComputeStream Stream { get; }

        public void SetTokens(int n) => Count.UploadInts(new[] { n });

        public PoolBlock Activation(DType dtype, int rows, int cols, out Tensor t, string tag) =>
            Pool.RentTensor(dtype, new long[] { rows, cols }, out t, tag);

        public void Dispose()
        {
            Stream.Dispose();
            Pool.Dispose();
            _count.Dispose();
        }
    }

    /// <summary>Random values in [-1, 1) for the valid rows and NaN in the padded ones, rounded to the type.</summary>
    internal static float[] Activations(int rows, int validRows, int cols, int seed, DType dtype)
    {
        var rng = new System.Random(seed);
        var v = new float[(long)rows * cols];
        for (int i = 0; i < v.Length; i++)
            v[i] = i < (long)validRows * cols ? HalfBits.ToFloat(HalfBits.FromFloat((float)(rng.NextDouble() * 2 - 1), dtype), dtype) : float.NaN;
        return v;
    }

    private static ReadOnlySpan<float> Rows(float[] all, int rows, int cols) => all.AsSpan(0, rows * cols);

    /// <summary>Rows [from, to) still hold the NaN they were poisoned with.</summary>
    private static CaseResult Untouched(string what, float[] values, int from, int to, int cols)
    {
        for (long i = (long)from * cols; i < (long)to * cols; i++)
            if (!float.IsNaN(values[i])) return CaseResult.Fail($"{what}: padded row {i / cols} was written ({values[i]})");
        return CaseResult.Pass($"{what}: padded rows [{from}, {to}) untouched");
    }

    // ------------------------------------------------------------------------------------------ RMSNorm

    private static CaseResult RmsNormCase(Device device, DType dtype, bool residual, int tokens, int hidden)
    {
        int padded = PaddedFor(tokens);
        using var rig = new Rig(device, padded);
        using var bx = rig.Activation(dtype, padded, hidden, out var x, "x");
        using var bo = rig.Activation(dtype, padded, hidden, out var o, "out");
        using var br = rig.Activation(dtype, padded, hidden, out var r, "residual");
        using var layer = new RmsNorm(rig.Context, "norm", hidden, dtype, 1e-6f, x, o, residual ? r : null);
        layer.RandomizeWeight(seed: 11);
        var xv = Activations(padded, tokens, hidden, 1, dtype);
        var rv = Activations(padded, tokens, hidden, 2, dtype);
        x.UploadFloats(xv);
        r.UploadFloats(rv);
        o.Poison(rig.Stream);
        rig.SetTokens(tokens);
        layer.Forward(rig.Stream, padded);
        rig.Stream.Synchronize();
        var outv = o.DownloadFloats();
        var w = layer.Weight.DownloadFloats();

        // Oracle in float64 from the stored inputs (z = x + r exactly, before the kernel's rounding).
        var expected = new double[(long)tokens * hidden];
        var zexp = new double[(long)tokens * hidden];
        for (int row = 0; row < tokens; row++)
        {
            double ss = 0;
            for (int i = 0; i < hidden; i++)
            {
                long at = (long)row * hidden + i;
                double z = xv[at] + (residual ? rv[at] : 0.0);
                zexp[at] = z;
                ss += z * z;
            }
            double inv = 1.0 / Math.Sqrt(ss / hidden + 1e-6);
            for (int i = 0; i < hidden; i++) expected[(long)row * hidden + i] = zexp[(long)row * hidden + i] * inv * w[i];
        }
        // The output is rounded once (fp32 sum of squares and scaling add far less); with the residual, the norm
        // reads z rounded to the activation type first: two roundings, each at most u of the element itself.
        var tol = residual
            ? new Tolerance(dtype, 2, "z = x + r rounded, then the normalized output rounded", Ulps: 2)
            : Tolerance.OneRounding(dtype, "fp32 sum of squares and scaling, one output rounding");
        var parts = new List<CaseResult>
        {
            Checks.Close($"rmsnorm {Name(dtype)} t={tokens} h={hidden}", expected, Rows(outv, tokens, hidden), hidden, tol),
            Untouched("output", outv, tokens, padded, hidden),
        };
        if (residual)
        {
            var rnew = r.DownloadFloats();
            // The residual is x + r (exact in fp32 unless the exponents are 16 apart) rounded once: half an ulp.
            parts.Add(Checks.Close("residual x + r", zexp, Rows(rnew, tokens, hidden), hidden,
                new Tolerance(dtype, 1, "x + r in fp32, rounded once", Ulps: 0.5, Accumulation: 1e-6)));
            int changed = 0;
            for (long i = (long)tokens * hidden; i < rnew.Length; i++) if (!float.IsNaN(rnew[i])) changed++;
            parts.Add(Checks.True(changed == 0, $"residual padded rows untouched ({changed} changed)"));
        }
        return CaseResult.All(parts.ToArray());
    }

    private const int CaptureHidden = 769, CapturePadded = 16;

    private static CaseResult RmsNormCaptureCase(Device device)
    {
        const int hidden = CaptureHidden, padded = CapturePadded;
        using var rig = new Rig(device, padded);
        using var bx = rig.Activation(DType.BF16, padded, hidden, out var x, "x");
        using var bo = rig.Activation(DType.BF16, padded, hidden, out var o, "out");
        using var br = rig.Activation(DType.BF16, padded, hidden, out var r, "residual");
        using var layer = new RmsNorm(rig.Context, "norm", hidden, DType.BF16, 1e-5f, x, o, r);
        layer.RandomizeWeight(3);
        var xv = Activations(padded, 11, hidden, 5, DType.BF16);
        var rv = Activations(padded, 11, hidden, 6, DType.BF16);
        return CaptureMatchesEager(rig, layer, padded, 11, () => { x.UploadFloats(xv); r.UploadFloats(rv); }, o, r);
    }

    /// <summary>
    /// Runs the layer eagerly, then captures its Forward (which must not allocate, sync or read back),
    /// resets the inputs, replays and compares bit for bit; the token count is changed between capture
    /// and replay, so the replay must read it at run time.
    /// </summary>
    private static CaseResult CaptureMatchesEager(Rig rig, Layer layer, int padded, int tokens, Action resetInputs, params Tensor[] outputs)
    {
        var s = rig.Stream;
        resetInputs();
        layer.Output.Poison(s);
        rig.SetTokens(tokens);
        layer.Forward(s, padded);
        s.Synchronize();
        var eager = outputs.Select(t => t.DownloadFloats()).ToArray();

        rig.SetTokens(1);
        s.BeginCapture();
        try
        {
            layer.Forward(s, padded);
        }
        catch
        {
            s.AbortCapture();
            throw;
        }
        using var graph = s.EndCapture();
        resetInputs();
        layer.Output.Poison(s);
        rig.SetTokens(tokens);
        graph.Launch(s);
        s.Synchronize();
        var parts = new List<CaseResult> { Checks.True(graph.NodeCount >= 1, $"{layer.Name}: captured {graph.NodeCount} node(s)") };
        for (int i = 0; i < outputs.Length; i++)
            parts.Add(Checks.BitEqual($"{layer.Name} replay vs eager, tensor {i}", eager[i], outputs[i].DownloadFloats()));
        return CaseResult.All(parts.ToArray());
    }

    // ------------------------------------------------------------------------------------------ Linear

    /// <summary>Host weights in [-0.5, 0.5) with a few larger outliers, so per-channel and group scales differ.</summary>
    /// <remarks>
    /// One System.Random stream, so generation is sequential; the same (n, k, seed) recurs in every mode and
    /// activation type, so the arrays are kept (see <see cref="HostCache"/>) and shared: callers only read them.
    /// </remarks>
    internal static float[] Weights(int n, int k, int seed) => WeightCache.Get((n, k, seed), () =>
    {
        var rng = new System.Random(seed);
        var w = new float[(long)n * k];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5) * (i % 97 == 0 ? 3f : 1f);
        return new[] { w };
    })[0];

    /// <summary>
    /// Host arrays made from a key (generated weights by (n, k, seed); their host quantization by (n, k, seed,
    /// scheme)), the most recently used first, up to a capacity in bytes; every Full-tier Linear shape of one mode
    /// fits, so a pass over the activation types and token counts makes each once. Callers only read the arrays.
    /// </summary>
    private sealed class HostCache(long capacity)
    {
        private readonly LinkedList<(object Key, float[][] Arrays)> _entries = new();
        private readonly object _gate = new();

        public float[][] Get(object key, Func<float[][]> make)
        {
            lock (_gate)
            {
                for (var e = _entries.First; e is not null; e = e.Next)
                    if (e.Value.Key.Equals(key))
                    {
                        _entries.Remove(e);
                        _entries.AddFirst(e);
                        return e.Value.Arrays;
                    }
            }
            var arrays = make();
            lock (_gate)
            {
                _entries.AddFirst((key, arrays));
                long bytes = 0;
                for (var e = _entries.First; e is not null; e = e.Next)
                {
                    foreach (var a in e.Value.Arrays) bytes += 4L * a.Length;
                    if (bytes > capacity && e != _entries.First)
                    {
                        while (_entries.Last != e) _entries.RemoveLast();
                        _entries.RemoveLast();
                        break;
                    }
                }
            }
            return arrays;
        }
    }

    private static readonly HostCache WeightCache = new(1L << 30);
    private static readonly HostCache QuantizedCache = new(2L << 30);

    /// <summary>
    /// The host quantizer's output for <see cref="Weights"/>(n, k, seed) under <paramref name="scheme"/>: codes as
    /// floats [N, K], scales [N, groups] and q · scale [N, K]. A pure function of its key, so it is made once per
    /// run, not once per activation type and token count (the 8192 x 8192 weights took seconds each time).
    /// </summary>
    private static (float[] Codes, float[] Scales, float[] Dequantized) HostQuantized(WeightOnlyScheme scheme, int n, int k, int seed)
    {
        var a = QuantizedCache.Get((n, k, seed, scheme), () =>
        {
            var host = QuantizedWeights.Quantize(scheme, n, k, Weights(n, k, seed));
            var codes = GC.AllocateUninitializedArray<float>(host.Values.Length);
            Float64.ForChunks(codes.Length, 1 << 16, (s0, s1) =>
            {
                for (long i = s0; i < s1; i++) codes[i] = host.Values[i];
            });
            return new[] { codes, host.Scales, host.Dequantize() };
        });
        return (a[0], a[1], a[2]);
    }

    /// <summary>
    /// y = x · (values · scales)ᵀ + bias for every valid row, from the host's own quantization (or rounding)
    /// of the source weights: <see cref="Float64.MatMulT"/> on the 16-bit activations and the integer codes,
    /// the group scales applied per group in double.
    /// </summary>
    private static double[] Oracle(float[] x, int tokens, int k, float[] values, int n, int group, float[]? scales, float[]? bias)
    {
        var y = Float64.MatMulT(x.AsMemory(0, tokens * k), tokens, values, n, k, group, bScales: scales);
        if (bias is not null)
            for (long i = 0; i < y.Length; i++) y[i] += bias[i % n];
        return y;
    }

    private static CaseResult LinearCase(Device device, DType dtype, QuantMode mode, GroupSize group, int tokens, int k, int n, bool bias, int paddedSize = 0)
    {
        int padded = paddedSize > 0 ? paddedSize : PaddedFor(tokens);
        using var rig = new Rig(device, padded);
        using var bx = rig.Activation(dtype, padded, k, out var x, "x");
        using var bo = rig.Activation(dtype, padded, n, out var o, "out");
        using var bb = rig.Pool.RentTensor(dtype, new long[] { n }, out var b, "bias");
        var wHost = Weights(n, k, 7);
        var biasv = new float[n];
        var rng = new System.Random(9);
        for (int i = 0; i < n; i++) biasv[i] = HalfBits.ToFloat(HalfBits.FromFloat((float)(rng.NextDouble() - 0.5), dtype), dtype);
        b.UploadFloats(biasv);

        using var layer = Linear.Create(rig.Context, "proj", x, o, mode, group, LinearWeights.FromHost(n, k, wHost), bias ? b : null);
        var xv = Activations(padded, tokens, k, 3, dtype);
        x.UploadFloats(xv);
        // Weight-only kernels up to GemvMaxRows rows store only the valid rows. Their padded input rows are NaN, so a
        // NaN poison could not tell a stored padded row from an untouched one: those cases fill with a finite sentinel.
        bool storesValidOnly = mode != QuantMode.None && !WeightOnlyGemm.ExpandsWeights(padded);
        if (storesValidOnly) rig.Stream.Fill16Async(o.Ptr, HalfBits.FromFloat(PadSentinel, dtype), o.ElementCount);
        else o.Poison(rig.Stream);
        rig.SetTokens(tokens);
        layer.Forward(rig.Stream, padded);
        rig.Stream.Synchronize();
        var outv = o.DownloadFloats();

        // The oracle's weights are the host's: rounded to the activation type (bf16/fp16 Linear) or quantized by
        // the host definition; the device's own weights must equal them bit for bit.
        string what = $"linear {Label(mode, group)} {Name(dtype)} t={tokens} k={k} n={n}{(bias ? " +bias" : "")}";
        var parts = new List<CaseResult>();
        float[] values;
        float[]? scales = null;
        int gsize = 0;
        Tolerance tol;
        if (mode == QuantMode.None)
        {
            values = new float[wHost.Length];
            Float64.ForChunks(values.Length, 1 << 16, (s0, s1) =>
            {
                for (long i = s0; i < s1; i++) values[i] = HalfBits.ToFloat(HalfBits.FromFloat(wHost[i], dtype), dtype);
            });
            parts.Add(Checks.BitEqual("stored weights vs host rounding", values, layer.Method.DequantizedWeights()));
            tol = bias ? Tolerance.BiasEpilogue(dtype) : Tolerance.OneRounding(dtype, "fp32 accumulation of exact products, one output rounding");
        }
        else
        {
            var scheme = Scheme(mode, group);
            (values, scales, var hostDeq) = HostQuantized(scheme, n, k, 7);
            gsize = group.IsPerChannel ? 0 : group.Size;
            int groups = scheme.Groups(k), span = k / groups;
            parts.Add(Checks.BitEqual($"device {scheme.Label} weights (dequantized) vs host quantizer", hostDeq, layer.Method.DequantizedWeights()));
            // Round to nearest with scale = group max / qmax moves each weight by at most half its group's step.
            var rowScales = scales;
            parts.Add(Checks.WithinHalfStep($"{scheme.Label} weights vs source", wHost, hostDeq, i => rowScales[(i / k) * groups + (i % k) / span] / 2));
            // Up to 16 rows the kernel scales the codes in fp32 (one rounding, of the output); above, the CUDA
            // launcher expands the weights to the activation type for cuBLASLt: a second rounding.
            tol = WeightOnlyGemm.ExpandsWeights(padded)
                ? new Tolerance(dtype, 2, $"weights expanded to {Name(dtype)} above {WeightOnlyGemm.GemvMaxRows} rows, then one output rounding")
                : Tolerance.OneRounding(dtype, "codes scaled in fp32, fp32 accumulation, one output rounding");
        }
        var expected = Oracle(xv, tokens, k, values, n, gsize, scales, bias ? biasv : null);
        parts.Insert(0, Checks.Close(what, expected, Rows(outv, tokens, n), n, tol));
        if (storesValidOnly) parts.Add(HoldsSentinel("output", outv, tokens, padded, n));
        return CaseResult.All(parts.ToArray());
    }

    /// <summary>A finite value no output of these cases takes (|y| stays under a few hundred), exact in bf16 and fp16.</summary>
    private const float PadSentinel = -1024.0f;

    /// <summary>Rows [from, to) still hold <see cref="PadSentinel"/>.</summary>
    private static CaseResult HoldsSentinel(string what, float[] values, int from, int to, int cols)
    {
        for (long i = (long)from * cols; i < (long)to * cols; i++)
            if (values[i] != PadSentinel) return CaseResult.Fail($"{what}: padded row {i / cols} was written ({values[i]})");
        return CaseResult.Pass($"{what}: padded rows [{from}, {to}) untouched");
    }

    private static CaseResult QuantizerBytesCase(Device device, QuantMode mode, GroupSize group, int n, int k)
    {
        var scheme = Scheme(mode, group);
        using var rig = new Rig(device, 8);
        var w = Weights(n, k, 21);
        var parts = new List<CaseResult>();
        foreach (var dtype in new[] { DType.F32, DType.BF16 })
        {
            using var bw = device.AllocateTensor(dtype, new long[] { n, k }, out var wt, "weights");
            wt.UploadFloats(w);
            var wr = wt.DownloadFloats();   // what the device quantizer reads (rounded for bf16)
            using var method = new WeightOnlyLinearMethod(rig.Context, DType.BF16, scheme, LinearWeights.FromDevice(wt), "q");
            var host = QuantizedWeights.Quantize(scheme, n, k, wr);
            var packed = new byte[WeightOnlyPacking.PackedBytes(scheme.Format, n, k)];
            WeightOnlyPacking.Repack(scheme.Format, host.Values, n, k, packed);
            var scales = new float[scheme.Groups(k) * WeightOnlyPacking.PaddedN(n)];
            WeightOnlyPacking.RepackScales(host.Scales, n, scheme.Groups(k), scales);
            parts.Add(Checks.Equal($"{scheme.Label} packed bytes from {dtype}", packed, method.Matrix.Packed.DownloadBytes()));
            parts.Add(Checks.BitEqual($"{scheme.Label} scales from {dtype}", scales, method.Matrix.Scales.DownloadFloats()));
        }
        return CaseResult.All(parts.ToArray());
    }

    private static CaseResult OfflineCase(Device device, QuantMode mode, GroupSize group, int n, int k)
    {
        var format = mode == QuantMode.WInt8 ? WeightOnlyFormat.Int8 : WeightOnlyFormat.Int4;
        var scheme = new WeightOnlyScheme(format, group);
        var rng = new System.Random(5);
        var scales = new float[n * scheme.Groups(k)];
        for (int i = 0; i < scales.Length; i++) scales[i] = (float)(rng.NextDouble() * 0.02 + 0.001);
        QuantizedWeights q;
        if (format == WeightOnlyFormat.Int4)
        {
            var packed = new byte[n * k / 2];
            rng.NextBytes(packed);   // every nibble in [-8, 7] is a legal offline value
            q = QuantizedWeights.FromPackedInt4(group, n, k, packed, scales);
        }
        else
        {
            var v = new sbyte[n * k];
            for (int i = 0; i < v.Length; i++) v[i] = (sbyte)rng.Next(-127, 128);
            q = QuantizedWeights.FromValues(scheme, n, k, v, scales);
        }
        using var rig = new Rig(device, 8);
        using var method = LinearMethods.Create(rig.Context, DType.BF16, mode, group, LinearWeights.Offline(q), "offline");
        return Checks.BitEqual($"offline {scheme.Label} [{n}, {k}] dequantized", q.Dequantize(), method.DequantizedWeights());
    }

    private const int CaptureK = 256, CaptureN = 72;
    private static readonly int[] CaptureSizes = { 8, 32 };

    private static CaseResult LinearCaptureCase(Device device, QuantMode mode, GroupSize group)
    {
        const int k = CaptureK, n = CaptureN;
        var parts = new List<CaseResult>();
        foreach (int padded in CaptureSizes)
        {
            int tokens = padded - 3;
            using var rig = new Rig(device, padded);
            using var bx = rig.Activation(DType.BF16, padded, k, out var x, "x");
            using var bo = rig.Activation(DType.BF16, padded, n, out var o, "out");
            using var layer = Linear.Create(rig.Context, "proj", x, o, mode, group, LinearWeights.Random(n, k, seed: 17, scale: 0.1f));
            var xv = Activations(padded, tokens, k, 8, DType.BF16);
            parts.Add(CaptureMatchesEager(rig, layer, padded, tokens, () => x.UploadFloats(xv), o));
        }
        return CaseResult.All(parts.ToArray());
    }
}
