using System.Globalization;
using System.Diagnostics;
using System.Text.Json.Nodes;
using GraphEngine.Bench.Reports;
using GraphEngine.Graph;
using GraphEngine.Hosting;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;
using GraphEngine.Models;

namespace GraphEngine.Bench;

/// <summary>
/// Kernel micro-benchmarks, timed at the layer level (the layer's forward is what the engine captures):
/// RMSNorm, Linear in bf16 / wint8 / wint4 / block_wise_fp8, the MoE layer at the ERNIE shape in every
/// MoE mode. Each figure is the GPU time of one call timed by <see cref="RotatedTimer"/> (weights rotated
/// past the L2 inside one CUDA graph, the same method as the PyTorch peers) beside its floor and, with
/// --torch, its peer. A mode whose layer cannot be built is listed as
/// "not built" with the reason, never timed with a stand-in.
/// </summary>
public sealed class KernelSuite
{
    private readonly BenchRun _run;
    private readonly CliConsole _console;

    private readonly Action<string>? _familyDone;

    /// <param name="run">The run the results go into.</param>
    /// <param name="console">Where progress lines go.</param>
    /// <param name="familyDone">Called with each family's name when it is done (a progress bar's step).</param>
    public KernelSuite(BenchRun run, CliConsole console, Action<string>? familyDone = null)
    {
        _run = run;
        _console = console;
        _familyDone = familyDone;
    }

    private (string Name, Action Run)[] Families() => new (string Name, Action Run)[]
    {
        ("rmsnorm", RmsNorms), ("linear", Linears), ("block_fp8", BlockFp8), ("moe", MoeLayers), ("moe_gemm", ExpertGemms),
        ("w4afp8", W4AFp8Seed),
    };

    /// <summary>The families this run will time, in order (--families selects them).</summary>
    public IReadOnlyList<string> Planned() => Families().Select(f => f.Name).Where(Wanted).ToArray();

    public void Run()
    {
        foreach (var (name, run) in Families().Where(f => Wanted(f.Name)))
        {
            var clock = Stopwatch.StartNew();
            run();
            _console.Line($"kernels: {name} done in {clock.Elapsed.TotalSeconds:F1} s");
            _familyDone?.Invoke(name);
        }
    }

    private bool Wanted(string family) =>
        _run.Options.Families is null || _run.Options.Families.Contains(family, StringComparer.OrdinalIgnoreCase);

    // An engine with graphs off: its context and pool give layers their buffers.
    private PrefillEngine Engine(int maxTokens) =>
        new(_run.Device, new BlockWiseGraphOptions { Enabled = false, Sizes = Array.Empty<int>() }, maxTokens);

    // bf16 activations x [rows, inWidth] and y [rows, outWidth] of the engine; x random (never time on zeros).
    private (Tensor X, Tensor Y) Activations(PrefillEngine engine, int inWidth, int outWidth, uint seed)
    {
        var x = engine.Activation("x", DType.BF16, inWidth);
        var y = engine.Activation("y", DType.BF16, outWidth);
        RandomFill.Create(_run.Device).Uniform(_run.Device.DefaultStream, x, seed, 1f);
        _run.Device.DefaultStream.Synchronize();
        return (x, y);
    }

    // Expert method built by make from random bf16 weights [e, nOut, k] scaled 1/sqrt(k), freed once it is built.
    private T FromRandomExperts<T>(int e, int nOut, int k, uint seed, string tag, Func<Tensor, T> make)
    {
        using var tmp = _run.Device.AllocateTensor(DType.BF16, new long[] { e, nOut, k }, out var w, tag);
        RandomFill.Create(_run.Device).Uniform(_run.Device.DefaultStream, w, seed, 1f / MathF.Sqrt(k));
        var method = make(w);
        _run.Device.DefaultStream.Synchronize();
        return method;
    }

    // One engine of S instances built by build, run R times in its graph and timed at every n; torch gets the same S and R.
    // The rotation is sized from the weight bytes one call reads and the floor of one call, both at the smallest n.
    private IReadOnlyDictionary<int, double> Rotated(string what, int[] ns, double rotatedBytes, double footprintBytes, Cost first,
        MatrixRate rate, Func<PrefillEngine, int, Layer> build, out Rotation rotation, Action<PrefillEngine, int>? beforeSize = null,
        Action<PrefillEngine, int>? afterSize = null)
    {
        rotation = RotatedTimer.Instances(_run.Device, rotatedBytes, footprintBytes, _run.Floor(first.Bytes, first.Flops, rate).Ms);
        _console.Line($"  {what}: {rotation.Instances} instances x {rotation.Repeats} repeats, n = {string.Join(",", ns)}");
        var clock = Stopwatch.StartNew();
        var times = RotatedTimer.Time(_run, ns, rotation, build, beforeSize, afterSize);
        _console.Line($"  {what}: built, captured and timed in {clock.Elapsed.TotalSeconds:F1} s");
        return times;
    }

    private void Add(string family, string variant, string shape, int n, double ms, Cost cost, Rotation rotation, string? note = null,
        MatrixRate rate = MatrixRate.Bf16)
    {
        var (floor, bound) = _run.Floor(cost.Bytes, cost.Flops, rate);
        _run.Report.Kernels.Add(new KernelPoint(family, variant, shape, n, ms, floor, bound, note, rotation.Instances, rotation.Repeats));
        _console.Line($"  {family} {variant} {shape} n={n}: {ms * 1e3:F1} us (floor {floor * 1e3:F1} us, {bound})");
    }

    private void Fail(string what, Exception e) =>
        _run.Report.Missing.Add(new Missing(what, $"not built: {e.GetType().Name}: {e.Message}"));

    private static bool Expected(Exception e) =>
        e is NotSupportedException or NotImplementedException or GraphEngineException or ArgumentException or InvalidOperationException;

    // ------------------------------------------------------------ RMSNorm

    private void RmsNorms()
    {
        // ERNIE's and Llama's hidden sizes; the host gets a shape small enough for a test to run the suite.
        int[] hiddens = _run.Gpu ? new[] { 2560, 4096 } : new[] { 128 };
        int[] ns = _run.Gpu ? new[] { 1, 16, 128, 2048 } : new[] { 1, 8 };
        _console.Line("kernels: rmsnorm");
        foreach (int h in hiddens)
        {
            string shape = $"hidden={h}";
            try
            {
                Tensor x = default, y = default;
                var times = Rotated($"rmsnorm {shape}", ns, 2.0 * h, 2.0 * h, KernelCosts.RmsNorm(ns[0], h), MatrixRate.Bf16, (engine, i) =>
                {
                    if (i == 0) (x, y) = Activations(engine, h, h, 5);
                    return ModelFactory.RandomNorm(engine.Context, $"rmsnorm.{h}.{i}", x, y, null, (uint)(6 + i));
                }, out var rot);
                foreach (int n in ns) Add("rmsnorm", "bf16", shape, n, times[n], KernelCosts.RmsNorm(n, h), rot);
                _run.Torch.AddKernels("rmsnorm", "bf16", shape, ns, rot, new JsonObject { ["op"] = "rmsnorm", ["hidden"] = h });
            }
            catch (Exception e) when (Expected(e)) { Fail($"rmsnorm {shape}", e); }
        }
    }

    // ------------------------------------------------------------ Linear

    private void Linears()
    {
        var shapes = _run.Gpu ? new[] { (4096, 4096), (8192, 8192) } : new[] { (128, 128) };
        // 1024: from here w8a8 is meant to beat bf16 cuBLASLt on the same shape (its IMMA path), so both are measured there.
        int[] ns = _run.Gpu ? new[] { 1, 16, 128, 1024, 2048 } : new[] { 1, 8 };
        // The int8-activation modes' floors use the int8 matrix rate measured in the same run (cuBLASLt IMMA);
        // they have no torch peer.
        var modes = new (string Variant, QuantMode Mode, GroupSize Group, string? Torch, MatrixRate Rate)[]
        {
            ("bf16", QuantMode.None, GroupSize.PerChannel, "bf16", MatrixRate.Bf16), ("wint8", QuantMode.WInt8, GroupSize.PerChannel, "wint8", MatrixRate.Bf16),
            ("wint4/g128", QuantMode.WInt4, GroupSize.Of(128), "wint4", MatrixRate.Bf16),
            ("w8a8", QuantMode.W8A8, GroupSize.PerChannel, null, MatrixRate.Int8), ("w4a8/channel", QuantMode.W4A8, GroupSize.PerChannel, null, MatrixRate.Int8),
            ("w4a8/g128", QuantMode.W4A8, GroupSize.Of(128), null, MatrixRate.Int8),
            // The A/B behind the w8a8 rule on sm_90 (Int8ActGemm.TmaApplies): the cuBLASLt IMMA product and scale pass it
            // replaced there, forced, at the row counts where the two differ.
            (ImmaAb, QuantMode.W8A8, GroupSize.PerChannel, null, MatrixRate.Int8),
        };
        _console.Line("kernels: linear");
        foreach (var (k, nOut) in shapes)
        {
            foreach (var m in modes)
            {
                string shape = $"K={k},N={nOut}";
                bool ab = m.Variant == ImmaAb;
                var manyRows = ns.Where(n => n >= Int8ActGemm.TmaMinRows).ToArray();
                int[] rowCounts = ab && manyRows.Length > 0 ? manyRows : ns;
                Int8ActGemm.TmaOff = ab;
                try
                {
                    Tensor x = default, y = default;
                    long weightBytes = 0;
                    double estimate = 2.0 * k * nOut * KernelCosts.BytesPerBf16Weight(m.Mode);
                    var times = Rotated($"linear {m.Variant} {shape}", rowCounts, estimate, estimate, KernelCosts.Linear(rowCounts[0], k, nOut, estimate),
                        m.Rate, (engine, i) =>
                        {
                            if (i == 0) (x, y) = Activations(engine, k, nOut, 7);
                            var lin = ModelFactory.RandomLinear(engine.Context, $"linear.{m.Variant}.{i}", x, y, m.Mode, m.Group, (uint)(8 + i));
                            weightBytes = lin.WeightBytes;
                            return lin;
                        }, out var rot);
                    foreach (int n in rowCounts)
                        Add("linear", m.Variant, shape, n, times[n], KernelCosts.Linear(n, k, nOut, weightBytes), rot,
                            ab ? "A/B: cuBLASLt IMMA into an int32 workspace + scale pass, forced (sm_90 runs the TMA kernel from 256 rows); floor at the int8 rate"
                            : m.Rate == MatrixRate.Int8 ? "int8 activations quantized per token in the forward; floor at the int8 rate" : null, m.Rate);
                    if (m.Torch is { } torch)
                        _run.Torch.AddKernels("linear", m.Variant, shape, ns, rot, new JsonObject
                        {
                            ["op"] = "linear", ["k"] = k, ["n"] = nOut, ["mode"] = torch, ["group"] = 128,
                        });
                }
                catch (Exception e) when (Expected(e)) { Fail($"linear {m.Variant} {shape}", e); }
                finally { Int8ActGemm.TmaOff = false; }
            }
        }
    }

    /// <summary>The linear family's A/B row: w8a8 with the TMA kernel switched off on this thread.</summary>
    private const string ImmaAb = "w8a8 [imma]";

    private void BlockFp8()
    {
        // DeepGEMM publishes M = 128 and M = 4096 figures; a square shape at each of the two hidden sizes it lists.
        var shapes = _run.Gpu ? new[] { (4096, 4096), (7168, 7168) } : new[] { (128, 128) };
        int[] ms = _run.Gpu ? new[] { 128, 4096 } : new[] { 16, 32 };
        _console.Line("kernels: block_wise_fp8 linear");
        foreach (var (k, nOut) in shapes)
        {
            string shape = $"K={k},N={nOut}";
            try
            {
                Tensor x = default, y = default;
                long weightBytes = 0;
                double estimate = (double)k * nOut;
                var times = Rotated($"block_wise_fp8 {shape}", ms, estimate, estimate, KernelCosts.Linear(ms[0], k, nOut, estimate), MatrixRate.Fp8,
                    (engine, i) =>
                    {
                        if (i == 0) (x, y) = Activations(engine, k, nOut, 9);
                        var lin = ModelFactory.RandomLinear(engine.Context, $"linear.fp8.{i}", x, y, QuantMode.BlockWiseFp8, GroupSize.PerChannel, (uint)(10 + i));
                        weightBytes = lin.WeightBytes;
                        return lin;
                    }, out var rot);
                foreach (int m in ms)
                {
                    double t = times[m];
                    var cost = KernelCosts.Linear(m, k, nOut, weightBytes);
                    Add("block_fp8", "block_wise_fp8", shape, m, t, cost, rot,
                        $"{cost.Flops / (t * 1e-3) / 1e12:F0} TFLOP/s (DeepGEMM H800: 352-645 at M=128, 775-1520 at M=4096); floor at the fp8 rate",
                        MatrixRate.Fp8);
                }
                _run.Torch.AddKernels("block_fp8", "block_wise_fp8", shape, ms, rot, new JsonObject
                {
                    ["op"] = "linear", ["k"] = k, ["n"] = nOut, ["mode"] = "fp8_tensor",
                });
            }
            catch (Exception e) when (Expected(e)) { Fail($"block_wise_fp8 linear {shape}", e); }
        }
    }

    // ------------------------------------------------------------ MoE

    private void MoeLayers()
    {
        var p = _run.Gpu ? ModelPresets.Ernie45_21B_A3B : ModelPresets.Tiny;
        var moe = p.Moe!;
        int[] ns = _run.Gpu ? new[] { 1, 16, 128, 512, 2048 } : new[] { 1, 8 };
        var modes = new (string Variant, QuantMode Mode, GroupSize Group)[]
        {
            ("bf16", QuantMode.None, GroupSize.PerChannel), ("wint8", QuantMode.WInt8, GroupSize.PerChannel), ("wint4/g128", QuantMode.WInt4, GroupSize.Of(128)),
            ("w4afp8", QuantMode.W4AFp8, GroupSize.PerChannel), ("nvfp4", QuantMode.Nvfp4, GroupSize.PerChannel), ("wi4a16", QuantMode.Wi4A16, GroupSize.Of(128)),
            ("w8a8", QuantMode.W8A8, GroupSize.PerChannel), ("w4a8/g128", QuantMode.W4A8, GroupSize.Of(128)),
        };
        string shape = $"H={p.Hidden},E={moe.Experts},top{moe.TopK},F={moe.ExpertFfn}";
        _console.Line("kernels: moe layer");
        foreach (var m in modes)
        {
            try
            {
                Tensor x = default, y = default;
                Moe layer = null!;
                var instances = new List<Moe>();
                var hits = new Dictionary<int, double>();
                double perExpertEstimate = 3.0 * p.Hidden * moe.ExpertFfn * 2 * KernelCosts.BytesPerBf16Weight(m.Mode);
                var rate = RateOf(m.Mode);
                // Floors use the experts each instance's routing really hit at n (counted after the timed replays);
                // the uniform expectation only sizes the rotation, before anything ran.
                MoeCost Cost(int n, double perExpert) => new(hits.GetValueOrDefault(n, LayerPlan.ExpectedExpertsHit(moe, n)),
                    KernelCosts.MoeLayer(n, p.Hidden, moe.Experts, moe.TopK, moe.ExpertFfn, hits.GetValueOrDefault(n, LayerPlan.ExpectedExpertsHit(moe, n)), perExpert));
                var times = Rotated($"moe {m.Variant}", ns, LayerPlan.ExpectedExpertsHit(moe, ns[0]) * perExpertEstimate,
                    moe.Experts * perExpertEstimate, Cost(ns[0], perExpertEstimate).Cost, rate, (engine, i) =>
                    {
                        if (i == 0) (x, y) = Activations(engine, p.Hidden, p.Hidden, 11);
                        layer = new Moe(engine.Context, $"moe.{m.Variant}.{i}", new MoeOptions(moe.Experts, moe.TopK, p.Hidden, moe.ExpertFfn,
                            Quant: m.Mode, GroupSize: m.Group, Seed: (uint)(12 + i)), x, y);
                        instances.Add(layer);
                        return layer;
                    }, out var rot, afterSize: (_, n) => hits[n] = instances.Average(l => l.ExpertsHit()));
                double perExpert = layer.GateUp.WeightBytesPerExpert + layer.Down.WeightBytesPerExpert;
                foreach (int n in ns)
                {
                    var (hit, cost) = Cost(n, perExpert);
                    Add("moe", m.Variant, shape, n, times[n], cost, rot,
                        $"whole layer (router GEMM, routing, permute, 2 group GEMMs, SwiGLU, combine); {hit:F1} experts hit (mean over the instances' routing)" +
                        (layer.Capturability.CanCapture ? "" : $"; eager only: {layer.Capturability.Reason}"), rate);
                }
                // The peer is the same layer in torch (F.linear router, topk, torch._grouped_mm x2, SwiGLU,
                // index_add combine) replayed under torch.cuda.graph.
                if (m.Mode == QuantMode.None)
                    _run.Torch.AddKernels("moe", m.Variant, shape, ns, rot, new JsonObject
                    {
                        ["op"] = "moe_layer", ["hidden"] = p.Hidden, ["experts"] = moe.Experts, ["top_k"] = moe.TopK, ["expert_ffn"] = moe.ExpertFfn,
                    });
            }
            catch (Exception e) when (Expected(e)) { Fail($"moe {m.Variant} {shape}", e); }
        }
    }

    private readonly record struct MoeCost(double Hit, Cost Cost);

    /// <summary>The matrix unit a mode's MMAs run on: its floor uses that unit's rate measured in the same run.</summary>
    private static MatrixRate RateOf(QuantMode mode) => mode switch
    {
        QuantMode.W4AFp8 or QuantMode.BlockWiseFp8 => MatrixRate.Fp8,
        QuantMode.W8A8 or QuantMode.W4A8 => MatrixRate.Int8,
        _ => MatrixRate.Bf16,
    };

    // ------------------------------------------------------------ w4afp8 at the seed's shape

    /// <summary>
    /// The w4afp8 group GEMM alone at the shape FastDeploy PR #3171 measured on an H800: 8 experts, N = 7168,
    /// K = 8192, M tokens per expert, padded layout. Timed through the MoE method, so the figure includes the
    /// per-token fp8 quantization of the activations that precedes the GEMM. Its floor uses the fp8 rate.
    /// </summary>
    private void W4AFp8Seed()
    {
        int e = 8, nOut = _run.Gpu ? 7168 : 128, k = _run.Gpu ? 8192 : 128;
        int[] ms = _run.Gpu ? new[] { 64, 128, 256, 512, 1024, 2048, 4096 } : new[] { 16, 32 };
        double[] prUs = { 114, 131, 209, 362, 730, 1440, 2810 };
        string shape = $"E={e},N={nOut},K={k}";
        _console.Line("kernels: w4afp8 group GEMM (FastDeploy PR #3171 shape)");
        try
        {
            int maxM = ms.Max();
            using var ab = _run.Device.AllocateTensor(DType.BF16, new long[] { e, maxM, k }, out var aAll, "w4afp8 A");
            using var cb = _run.Device.AllocateTensor(DType.BF16, new long[] { e, maxM, nOut }, out var cAll, "w4afp8 C");
            using var ob = _run.Device.AllocateTensor(DType.I32, new long[] { e }, out var counts, "w4afp8 counts");
            RandomFill.Create(_run.Device).Uniform(_run.Device.DefaultStream, aAll, 22, 1f);
            counts.UploadInts(Enumerable.Repeat(maxM, e).ToArray());
            GroupGemmProblem Problem(int m) => new(TokenLayout.Padded, e, nOut, k, m,
                aAll.Reshape((long)e * maxM * k).SliceRows(0, (long)e * m * k).Reshape(e, m, k), counts,
                cAll.Reshape((long)e * maxM * nOut).SliceRows(0, (long)e * m * nOut).Reshape(e, m, nOut));
            MethodLayer last = null!;
            double estimate = e * (double)nOut * k / 2;
            var times = Rotated($"w4afp8 {shape}", ms, estimate, estimate, KernelCosts.GroupGemm(e * ms[0], nOut, k, e, estimate / e), MatrixRate.Fp8,
                (engine, i) =>
                {
                    var method = FromRandomExperts(e, nOut, k, (uint)(21 + i), "w4afp8 weights", w => W4AFp8MoeMethod.Quantize(engine.Context, w, e * maxM));
                    return last = new MethodLayer(engine.Context, $"w4afp8.{i}", method, Problem, aAll, cAll);
                }, out var rot, (_, m) => counts.UploadInts(Enumerable.Repeat(m, e).ToArray()));
            for (int i = 0; i < ms.Length; i++)
            {
                int m = ms[i];
                double t = times[m];
                var cost = KernelCosts.GroupGemm(e * m, nOut, k, e, last.Method.WeightBytesPerExpert);
                string note = $"{cost.Flops / (t * 1e-3) / 1e12:F0} TFLOP/s; floor at the fp8 rate" +
                              (_run.Gpu ? $"; FastDeploy PR #3171 (H800): {prUs[i]} us" : "");
                Add("w4afp8_gemm", last.Method.Label, shape, m, t, cost, rot, note, MatrixRate.Fp8);
            }
        }
        catch (Exception ex) when (Expected(ex)) { Fail($"w4afp8 group GEMM {shape}", ex); }
    }

    // ------------------------------------------------------------ MoE group GEMM alone (ERNIE gate_up shape)

    /// <summary>
    /// The fused gate/up group GEMM of one ERNIE MoE layer ([64, 3072, 2560] expert weights) in each mode,
    /// prefix-sum layout, with the rows per expert of a seeded uniform top-6 routing of n tokens. The
    /// floor counts only the experts those rows hit. The peer is torch._grouped_mm on the same counts. The "+swiglu"
    /// rows run the same GEMM with SwiGLU fused into its epilogue (C = [rows, F]), the way the MoE layer runs it.
    /// </summary>
    private void ExpertGemms()
    {
        var p = _run.Gpu ? ModelPresets.Ernie45_21B_A3B : ModelPresets.Tiny;
        var moe = p.Moe!;
        int e = moe.Experts, gateUpN = 2 * moe.ExpertFfn;
        int[] allNs = _run.Gpu ? new[] { 1, 16, 128, 512, 2048 } : new[] { 1, 8 };
        int maxRows = allNs.Max() * moe.TopK;
        IMoeMethod Weights(LayerContext ctx, Tensor w, QuantMode m, GroupSize g) =>
            MoeMethods.Create(m, ctx.Device, ctx.LoadStream, w, g, TokenLayout.PrefixSum, maxRows);
        var none = GroupGemmEpilogue.None;
        IMoeMethod Half(LayerContext ctx, Tensor w) => Weights(ctx, w, QuantMode.None, GroupSize.PerChannel);
        var modes = new (string Variant, QuantMode Mode, GroupGemmEpilogue Epilogue, Func<LayerContext, Tensor, IMoeMethod> Make)[]
        {
            ("bf16", QuantMode.None, none, Half),
            // The A/B behind the weight-streaming kernel's split rule (GroupGemmCuda.Stream) at the token counts it runs:
            // its K splits forced, on the gate/up shape and (the "down" rows) on the down projection's, [E, H, F].
            ("bf16+swiglu [stream splits=1]", QuantMode.None, GroupGemmEpilogue.SwiGlu, Half),
            ("bf16+swiglu [stream splits=3]", QuantMode.None, GroupGemmEpilogue.SwiGlu, Half),
            ("bf16+swiglu [stream splits=4]", QuantMode.None, GroupGemmEpilogue.SwiGlu, Half),
            ("bf16 down", QuantMode.None, none, Half),
            ("bf16 down [stream splits=2]", QuantMode.None, none, Half),
            ("bf16 down [stream splits=3]", QuantMode.None, none, Half),
            ("wint8+swiglu [stream splits=2]", QuantMode.WInt8, GroupGemmEpilogue.SwiGlu, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            ("wint4/g128+swiglu [stream splits=2]", QuantMode.WInt4, GroupGemmEpilogue.SwiGlu, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.Of(128))),
            ("wint8 down", QuantMode.WInt8, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            ("wint8 down [stream splits=2]", QuantMode.WInt8, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            // The A/B behind the Hopper rule (GroupGemmCuda.Tma): the other TMA forms and the cp.async wgmma kernel, forced.
            ("bf16 [tma]", QuantMode.None, none, Half),
            ("bf16 [cp.async wgmma]", QuantMode.None, none, Half),
            ("bf16+swiglu", QuantMode.None, GroupGemmEpilogue.SwiGlu, (ctx, w) => Weights(ctx, w, QuantMode.None, GroupSize.PerChannel)),
            ("wint8", QuantMode.WInt8, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            // The A/B behind the integer TMA rule (GroupGemmCuda.TmaPerChannelRows, TmaGroupedRows): the kernels it replaced, forced.
            ("wint8 [pipelined]", QuantMode.WInt8, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            ("wint8 [tma]", QuantMode.WInt8, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            ("wint8+swiglu", QuantMode.WInt8, GroupGemmEpilogue.SwiGlu, (ctx, w) => Weights(ctx, w, QuantMode.WInt8, GroupSize.PerChannel)),
            ("wint4/g128", QuantMode.WInt4, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.Of(128))),
            ("wint4/g128 [tma]", QuantMode.WInt4, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.Of(128))),
            ("wint4/g128 [pipelined]", QuantMode.WInt4, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.Of(128))),
            ("wint4 [pipelined]", QuantMode.WInt4, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.PerChannel)),
            ("wint4", QuantMode.WInt4, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.PerChannel)),
            ("wint4 [tma]", QuantMode.WInt4, none, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.PerChannel)),
            ("wint4/g128+swiglu", QuantMode.WInt4, GroupGemmEpilogue.SwiGlu, (ctx, w) => Weights(ctx, w, QuantMode.WInt4, GroupSize.Of(128))),
            ("w4afp8", QuantMode.W4AFp8, none, (ctx, w) => W4AFp8MoeMethod.Quantize(ctx, w, maxRows)),
            ("nvfp4", QuantMode.Nvfp4, none, (ctx, w) => Nvfp4MoeMethod.Quantize(ctx, w)),
            ("w8a8", QuantMode.W8A8, none, (ctx, w) => Int8ActMoeMethod.Quantize(ctx, w, QuantMode.W8A8, GroupSize.PerChannel, maxRows)),
            ("w4a8/g128", QuantMode.W4A8, none, (ctx, w) => Int8ActMoeMethod.Quantize(ctx, w, QuantMode.W4A8, GroupSize.Of(128), maxRows)),
        };
        _console.Line("kernels: MoE group GEMM (gate_up)");
        foreach (var mode in modes)
        {
            GroupGemmCuda.TmaOverride = mode.Variant switch
            {
                "bf16 [tma]" => new GroupGemmCuda.TmaConfig(256, 4),
                // The integer TMA kernels at every n, below the rule's rows too: where the threshold belongs.
                "wint8 [tma]" => new GroupGemmCuda.TmaConfig(256, 4, ExpertWeightFormat.Int8PerChannel),
                "wint4/g128 [tma]" => new GroupGemmCuda.TmaConfig(128, 4, ExpertWeightFormat.Int4Group),
                "wint4 [tma]" => new GroupGemmCuda.TmaConfig(256, 4, ExpertWeightFormat.Int4PerChannel),
                _ => null,
            };
            GroupGemmCuda.ForceCpAsync = mode.Variant.EndsWith("[cp.async wgmma]", StringComparison.Ordinal)
                || mode.Variant.EndsWith("[pipelined]", StringComparison.Ordinal);
            int splitsAt = mode.Variant.IndexOf("[stream splits=", StringComparison.Ordinal);
            GroupGemmCuda.StreamSplitsOverride = splitsAt < 0 ? 0 : int.Parse(mode.Variant.AsSpan(splitsAt + 15).TrimEnd(']'), CultureInfo.InvariantCulture);
            bool down = mode.Variant.Contains(" down", StringComparison.Ordinal);
            // The down projection: [E, H, F] weights over the SwiGLU rows; the forced splits only where the streaming kernel runs.
            int nOut = down ? p.Hidden : gateUpN, k = down ? moe.ExpertFfn : p.Hidden;
            string shape = $"E={e},N={nOut},K={k}";
            int[] ns = splitsAt >= 0 ? allNs.Where(n => n <= 16).ToArray() : allNs;
            try
            {
                using var ab = _run.Device.AllocateTensor(DType.BF16, new long[] { maxRows, k }, out var aAll, "expert A");
                using var cb = _run.Device.AllocateTensor(DType.BF16, new long[] { maxRows, nOut }, out var cAll, "expert C");
                using var ob = _run.Device.AllocateTensor(DType.I32, new long[] { e + 1 }, out var offsets, "expert offsets");
                RandomFill.Create(_run.Device).Uniform(_run.Device.DefaultStream, aAll, 32, 1f);
                offsets.UploadInts(Prefix(RoutedCounts(e, moe.TopK, ns.Max())));
                int cCols = mode.Epilogue == GroupGemmEpilogue.SwiGlu ? nOut / 2 : nOut;
                GroupGemmProblem Problem(int n) =>
                    new(TokenLayout.PrefixSum, e, nOut, k, n * moe.TopK, aAll.SliceRows(0, n * moe.TopK), offsets,
                        new Tensor(cAll.Device, cAll.Ptr, DType.BF16, n * moe.TopK, cCols), mode.Epilogue);
                MethodLayer last = null!;
                double perExpertEstimate = (double)nOut * k * 2 * KernelCosts.BytesPerBf16Weight(mode.Mode);
                int firstHit = RoutedCounts(e, moe.TopK, ns[0]).Count(c => c > 0);
                var rate = RateOf(mode.Mode);
                var times = Rotated($"moe_gemm {mode.Variant}", ns, firstHit * perExpertEstimate, e * perExpertEstimate,
                    KernelCosts.GroupGemm(ns[0] * moe.TopK, nOut, k, firstHit, perExpertEstimate), rate, (engine, i) =>
                    {
                        var method = FromRandomExperts(e, nOut, k, (uint)(31 + i), "expert weights", w => mode.Make(engine.Context, w));
                        return last = new MethodLayer(engine.Context, $"moe_gemm.{mode.Variant}.{i}", method, Problem, aAll, cAll);
                    }, out var rot, (_, n) => offsets.UploadInts(Prefix(RoutedCounts(e, moe.TopK, n))));
                foreach (int n in ns)
                {
                    int rows = n * moe.TopK;
                    int hit = RoutedCounts(e, moe.TopK, n).Count(c => c > 0);
                    double t = times[n];
                    var cost = KernelCosts.GroupGemm(rows, nOut, k, hit, last.Method.WeightBytesPerExpert);
                    Add("moe_gemm", mode.Variant, shape, n, t, cost, rot,
                        $"{hit} of {e} experts hit ({rows} rows); {cost.Bytes / (t * 1e-3) / 1e9:F0} GB/s on the bytes touched", rate);
                }
                if (mode.Variant == "bf16")
                    _run.Torch.AddKernels("moe_gemm", mode.Variant, shape, ns, rot,
                        new JsonObject { ["op"] = "grouped_mm", ["experts"] = e, ["n"] = nOut, ["k"] = k },
                        n => new JsonObject
                        {
                            ["rows"] = n * moe.TopK,
                            ["counts"] = new JsonArray(RoutedCounts(e, moe.TopK, n).Select(c => (JsonNode)c).ToArray()),
                        });
            }
            catch (Exception ex) when (Expected(ex)) { Fail($"moe_gemm {mode.Variant} {shape}", ex); }
            finally
            {
                GroupGemmCuda.TmaOverride = null;
                GroupGemmCuda.ForceCpAsync = false;
                GroupGemmCuda.StreamSplitsOverride = 0;
            }
        }
    }

    private static int[] Prefix(int[] counts)
    {
        var prefix = new int[counts.Length + 1];
        for (int i = 0; i < counts.Length; i++) prefix[i + 1] = prefix[i] + counts[i];
        return prefix;
    }

    /// <summary>Rows per expert of a seeded uniform top-k routing of <paramref name="tokens"/> tokens (distinct experts per token).</summary>
    internal static int[] RoutedCounts(int experts, int topK, int tokens)
    {
        var counts = new int[experts];
        var rng = new Random(tokens * 31 + experts);
        var pick = new int[experts];
        for (int t = 0; t < tokens; t++)
        {
            for (int i = 0; i < experts; i++) pick[i] = i;
            for (int j = 0; j < topK; j++)
            {
                int r = j + rng.Next(experts - j);
                (pick[j], pick[r]) = (pick[r], pick[j]);
                counts[pick[j]]++;
            }
        }
        return counts;
    }
}
