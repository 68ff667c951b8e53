using System.Text.Json.Nodes;
using GraphEngine.Hosting;
using GraphEngine.Bench.Reports;
using GraphEngine.Graph;
using GraphEngine.Models;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers.Methods;
using GraphEngine.Layers;

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

    public KernelSuite(BenchRun run, CliConsole console)
    {
        _run = run;
        _console = console;
    }

    public void Run()
    {
        if (Wanted("rmsnorm")) RmsNorms();
        if (Wanted("linear")) Linears();
        if (Wanted("block_fp8")) BlockFp8();
        if (Wanted("moe")) MoeLayers();
        if (Wanted("moe_gemm")) ExpertGemms();
        if (Wanted("w4afp8")) W4AFp8Seed();
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

    // One engine of S instances built by build, timed at every n; torch gets the same S.
    private IReadOnlyDictionary<int, double> Rotated(int[] ns, double bytesPerCall, Func<PrefillEngine, int, Layer> build,
        out int instances, Action<PrefillEngine, int>? beforeSize = null)
    {
        instances = RotatedTimer.Instances(_run.Device, bytesPerCall);
        return RotatedTimer.Time(_run, ns, instances, build, beforeSize);
    }

    private void Add(string family, string variant, string shape, int n, double ms, double bytes, double flops, string? note = null,
        MatrixRate rate = MatrixRate.Bf16)
    {
        var (floor, bound) = _run.Floor(bytes, flops, rate);
        _run.Report.Kernels.Add(new KernelPoint(family, variant, shape, n, ms, floor, bound, note));
        _console.Line($"  {family} {variant} {shape} n={n}: {ms * 1e3:F1} us (floor {floor * 1e3:F1} us, {bound})");
    }

    private void Fail(string what, Exception e) =>
        _run.Report.Missing.Add(new Missing(what, $"not built: {e.GetType().Name}: {e.Message}"));

    private static bool Expected(Exception e) =>
        e is NotSupportedException or NotImplementedException or GraphEngineException or ArgumentException or InvalidOperationException;

    // ------------------------------------------------------------ RMSNorm

    private void RmsNorms()
    {
        int[] hiddens = _run.Gpu ? new[] { 2560, 4096, 7168 } : new[] { 256 };
        int[] ns = _run.Gpu ? new[] { 1, 16, 128, 512, 1024, 2048 } : new[] { 1, 16, 64 };
        _console.Line("kernels: rmsnorm");
        foreach (int h in hiddens)
        {
            try
            {
                Tensor x = default, y = default;
                var times = Rotated(ns, 2.0 * ns.Max() * h * 2, (engine, i) =>
                {
                    if (i == 0) (x, y) = Activations(engine, h, h, 5);
                    return ModelFactory.RandomNorm(engine.Context, $"rmsnorm.{h}.{i}", x, y, null, (uint)(6 + i));
                }, out int s);
                foreach (int n in ns)
                {
                    string shape = $"hidden={h}";
                    // Bytes: read x, write y (bf16), read the weight once.
                    Add("rmsnorm", "bf16", shape, n, times[n], 2.0 * n * h * 2 + 2.0 * h, 0);
                    _run.Torch.AddKernel("rmsnorm", "bf16", shape, n, new JsonObject { ["op"] = "rmsnorm", ["hidden"] = h, ["instances"] = s });
                }
            }
            catch (Exception e) when (Expected(e)) { Fail($"rmsnorm hidden={h}", e); }
        }
    }

    // ------------------------------------------------------------ Linear

    private void Linears()
    {
        var shapes = _run.Gpu ? new[] { (4096, 4096), (4096, 8192), (8192, 4096), (8192, 8192) } : new[] { (256, 256) };
        int[] ns = _run.Gpu ? new[] { 1, 2, 4, 8, 16, 1024, 2048 } : new[] { 1, 16, 64 };
        var modes = new (string Variant, QuantMode Mode, GroupSize Group)[]
        {
            ("bf16", QuantMode.None, GroupSize.PerChannel), ("wint8", QuantMode.WInt8, GroupSize.PerChannel), ("wint4/g128", QuantMode.WInt4, GroupSize.Of(128)),
        };
        _console.Line("kernels: linear");
        foreach (var (k, nOut) in shapes)
        {
            foreach (var m in modes)
            {
                string shape = $"K={k},N={nOut}";
                try
                {
                    Tensor x = default, y = default;
                    long weightBytes = 0;
                    var times = Rotated(ns, WeightBytes(m.Mode, k, nOut), (engine, i) =>
                    {
                        if (i == 0) (x, y) = Activations(engine, k, nOut, 7);
                        var lin = ModelFactory.RandomLinear(engine.Context, $"linear.{m.Variant}.{i}", x, y, m.Mode, m.Group, (uint)(8 + i));
                        weightBytes = lin.WeightBytes;
                        return lin;
                    }, out int s);
                    foreach (int n in ns)
                    {
                        Add("linear", m.Variant, shape, n, times[n], weightBytes + 2.0 * n * (k + nOut), 2.0 * n * k * nOut);
                        string torchMode = m.Mode switch { QuantMode.None => "bf16", QuantMode.WInt8 => "wint8", _ => "wint4" };
                        _run.Torch.AddKernel("linear", m.Variant, shape, n, new JsonObject
                        {
                            ["op"] = "linear", ["k"] = k, ["n"] = nOut, ["mode"] = torchMode, ["group"] = 128, ["instances"] = s,
                        });
                    }
                }
                catch (Exception e) when (Expected(e)) { Fail($"linear {m.Variant} {shape}", e); }
            }
        }
    }

    private void BlockFp8()
    {
        var shapes = _run.Gpu ? new[] { (4096, 4096), (4096, 7168), (7168, 4096), (7168, 7168) } : new[] { (256, 256) };
        int[] ms = _run.Gpu ? new[] { 128, 1024, 4096 } : new[] { 16, 64 };
        _console.Line("kernels: block_wise_fp8 linear");
        foreach (var (k, nOut) in shapes)
        {
            string shape = $"K={k},N={nOut}";
            try
            {
                Tensor x = default, y = default;
                long weightBytes = 0;
                var times = Rotated(ms, (double)k * nOut, (engine, i) =>
                {
                    if (i == 0) (x, y) = Activations(engine, k, nOut, 9);
                    var lin = ModelFactory.RandomLinear(engine.Context, $"linear.fp8.{i}", x, y, QuantMode.BlockWiseFp8, GroupSize.PerChannel, (uint)(10 + i));
                    weightBytes = lin.WeightBytes;
                    return lin;
                }, out int s);
                foreach (int m in ms)
                {
                    double t = times[m];
                    double flops = 2.0 * m * k * nOut;
                    Add("block_fp8", "block_wise_fp8", shape, m, t, weightBytes + m * (2.0 * k + 2.0 * nOut), flops,
                        $"{flops / (t * 1e-3) / 1e12:F0} TFLOP/s (DeepGEMM H800: 352-645 at M=128, 775-1520 at M=4096); floor at the fp8 rate",
                        MatrixRate.Fp8);
                    _run.Torch.AddKernel("block_fp8", "block_wise_fp8", shape, m, new JsonObject
                    {
                        ["op"] = "linear", ["k"] = k, ["n"] = nOut, ["mode"] = "fp8_tensor", ["instances"] = s,
                    });
                }
            }
            catch (Exception e) when (Expected(e)) { Fail($"block_wise_fp8 linear {shape}", e); }
        }
    }

    // ------------------------------------------------------------ MoE

    private void MoeLayers()
    {
        var p = _run.Gpu ? ModelPresets.Ernie45_21B_A3B : ModelPresets.Tiny;
        var moe = p.Moe!;
        int[] ns = _run.Gpu ? new[] { 1, 16, 128, 512, 2048 } : new[] { 1, 16, 64 };
        var modes = new (string Variant, QuantMode Mode, GroupSize Group)[]
        {
            ("bf16", QuantMode.None, GroupSize.PerChannel), ("wint8", QuantMode.WInt8, GroupSize.PerChannel), ("wint4/g128", QuantMode.WInt4, GroupSize.Of(128)),
            ("w4afp8", QuantMode.W4AFp8, GroupSize.PerChannel), ("nvfp4", QuantMode.Nvfp4, GroupSize.PerChannel), ("wi4a16", QuantMode.Wi4A16, GroupSize.Of(128)),
        };
        string shape = $"H={p.Hidden},E={moe.Experts},top{moe.TopK},F={moe.ExpertFfn}";
        _console.Line("kernels: moe layer");
        foreach (var m in modes)
        {
            try
            {
                Tensor x = default, y = default;
                Moe layer = null!;
                double bf16PerExpert = 3.0 * p.Hidden * moe.ExpertFfn * 2;
                var times = Rotated(ns, LayerPlan.ExpectedExpertsHit(moe, 1) * bf16PerExpert * BytesPerBf16Weight(m.Mode), (engine, i) =>
                {
                    if (i == 0) (x, y) = Activations(engine, p.Hidden, p.Hidden, 11);
                    return layer = new Moe(engine.Context, $"moe.{m.Variant}.{i}", new MoeOptions(moe.Experts, moe.TopK, p.Hidden, moe.ExpertFfn,
                        Quant: m.Mode, GroupSize: m.Group, Seed: (uint)(12 + i)), x, y);
                }, out int s);
                double perExpert = layer.GateUp.WeightBytesPerExpert + layer.Down.WeightBytesPerExpert;
                double routerBytes = 2.0 * moe.Experts * p.Hidden;
                foreach (int n in ns)
                {
                    double hit = LayerPlan.ExpectedExpertsHit(moe, n);
                    double flops = 2.0 * n * moe.TopK * 3.0 * p.Hidden * moe.ExpertFfn + 2.0 * n * p.Hidden * moe.Experts;
                    double ms = times[n];
                    Add("moe", m.Variant, shape, n, ms, hit * perExpert + routerBytes + 4.0 * n * p.Hidden, flops,
                        $"whole layer (router GEMM, routing, permute, 2 group GEMMs, SwiGLU, combine); {hit:F1} experts hit (expected, uniform routing)" +
                        (layer.Capturability.CanCapture ? "" : $"; eager only: {layer.Capturability.Reason}"),
                        m.Mode == QuantMode.W4AFp8 ? MatrixRate.Fp8 : MatrixRate.Bf16);
                    if (m.Mode == QuantMode.None)
                    {
                        // The peer is the same layer in torch (F.linear router, topk, torch._grouped_mm x2, SwiGLU,
                        // index_add combine) replayed under torch.cuda.graph.
                        _run.Torch.AddKernel("moe", m.Variant, shape, n, new JsonObject
                        {
                            ["op"] = "moe_layer", ["hidden"] = p.Hidden, ["experts"] = moe.Experts, ["top_k"] = moe.TopK, ["expert_ffn"] = moe.ExpertFfn,
                            ["instances"] = s,
                        });
                    }
                }
            }
            catch (Exception e) when (Expected(e)) { Fail($"moe {m.Variant} {shape}", e); }
        }
    }

    // ------------------------------------------------------------ w4afp8 at the seed's shape

    /// <summary>
    /// The w4afp8 group GEMM alone at the shape FastDeploy PR #3171 measured on an H800: 8 experts, N = 7168,
    /// K = 8192, M tokens per expert, padded layout. Timed through the MoE method, so the figure includes the
    /// per-token fp8 quantization of the activations that precedes the GEMM. Its floor uses the fp8 rate.
    /// </summary>
    private void W4AFp8Seed()
    {
        int e = 8, nOut = _run.Gpu ? 7168 : 256, k = _run.Gpu ? 8192 : 256;
        int[] ms = _run.Gpu ? new[] { 64, 128, 256, 512, 1024, 2048, 4096 } : new[] { 16, 64 };
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
            var times = Rotated(ms, e * (double)nOut * k / 2, (engine, i) =>
            {
                var method = FromRandomExperts(e, nOut, k, (uint)(21 + i), "w4afp8 weights", w => W4AFp8MoeMethod.Quantize(engine.Context, w, e * maxM));
                return last = new MethodLayer(engine.Context, $"w4afp8.{i}", method, Problem, aAll, cAll);
            }, out _, (_, m) => counts.UploadInts(Enumerable.Repeat(m, e).ToArray()));
            for (int i = 0; i < ms.Length; i++)
            {
                int m = ms[i];
                double t = times[m];
                double flops = 2.0 * e * m * (double)nOut * k;
                double bytes = last.Method.WeightBytesPerExpert * (double)e + e * (double)m * (k * 2.0 + nOut * 2.0);
                string note = $"{flops / (t * 1e-3) / 1e12:F0} TFLOP/s; floor at the fp8 rate" +
                              (_run.Gpu ? $"; FastDeploy PR #3171 (H800): {prUs[i]} us" : "");
                Add("w4afp8_gemm", last.Method.Label, shape, m, t, bytes, flops, note, MatrixRate.Fp8);
            }
        }
        catch (Exception ex) when (Expected(ex)) { Fail($"w4afp8 group GEMM {shape}", ex); }
    }

    // ------------------------------------------------------------ MoE group GEMM alone (ERNIE gate_up shape)

    /// <summary>
    /// The fused gate/up group GEMM of one ERNIE MoE layer ([64, 3072, 2560] expert weights) in each mode,
    /// prefix-sum layout, with the rows per expert of a seeded uniform top-6 routing of n tokens. The
    /// floor counts only the experts those rows hit. The peer is torch._grouped_mm on the same counts.
    /// </summary>
    private void ExpertGemms()
    {
        var p = _run.Gpu ? ModelPresets.Ernie45_21B_A3B : ModelPresets.Tiny;
        var moe = p.Moe!;
        int e = moe.Experts, nOut = 2 * moe.ExpertFfn, k = p.Hidden;
        int[] ns = _run.Gpu ? new[] { 1, 16, 128, 512, 2048 } : new[] { 1, 16 };
        int maxRows = ns.Max() * moe.TopK;
        string shape = $"E={e},N={nOut},K={k}";
        var modes = new (string Variant, QuantMode Mode, Func<LayerContext, Tensor, IMoeMethod> Make)[]
        {
            ("bf16", QuantMode.None, (ctx, w) => MoeMethods.Create(QuantMode.None, ctx.Device, ctx.LoadStream, w, GroupSize.PerChannel, TokenLayout.PrefixSum, maxRows)),
            ("wint8", QuantMode.WInt8, (ctx, w) => MoeMethods.Create(QuantMode.WInt8, ctx.Device, ctx.LoadStream, w, GroupSize.PerChannel, TokenLayout.PrefixSum, maxRows)),
            ("wint4/g128", QuantMode.WInt4,
                (ctx, w) => MoeMethods.Create(QuantMode.WInt4, ctx.Device, ctx.LoadStream, w, GroupSize.Of(128), TokenLayout.PrefixSum, maxRows)),
            ("w4afp8", QuantMode.W4AFp8, (ctx, w) => W4AFp8MoeMethod.Quantize(ctx, w, maxRows)),
            ("nvfp4", QuantMode.Nvfp4, (ctx, w) => Nvfp4MoeMethod.Quantize(ctx, w)),
        };
        _console.Line("kernels: MoE group GEMM (gate_up)");
        foreach (var mode in modes)
        {
            try
            {
                using var ab = _run.Device.AllocateTensor(DType.BF16, new long[] { maxRows, k }, out var aAll, "expert A");
                using var cb = _run.Device.AllocateTensor(DType.BF16, new long[] { maxRows, nOut }, out var cAll, "expert C");
                using var ob = _run.Device.AllocateTensor(DType.I32, new long[] { e + 1 }, out var offsets, "expert offsets");
                RandomFill.Create(_run.Device).Uniform(_run.Device.DefaultStream, aAll, 32, 1f);
                offsets.UploadInts(Prefix(RoutedCounts(e, moe.TopK, ns.Max())));
                GroupGemmProblem Problem(int n) =>
                    new(TokenLayout.PrefixSum, e, nOut, k, n * moe.TopK, aAll.SliceRows(0, n * moe.TopK), offsets, cAll.SliceRows(0, n * moe.TopK));
                MethodLayer last = null!;
                double hitBytes = RoutedCounts(e, moe.TopK, 1).Count(c => c > 0) * (double)nOut * k * 2 * BytesPerBf16Weight(mode.Mode);
                var times = Rotated(ns, hitBytes, (engine, i) =>
                {
                    var method = FromRandomExperts(e, nOut, k, (uint)(31 + i), "expert weights", w => mode.Make(engine.Context, w));
                    return last = new MethodLayer(engine.Context, $"moe_gemm.{mode.Variant}.{i}", method, Problem, aAll, cAll);
                }, out int s, (_, n) => offsets.UploadInts(Prefix(RoutedCounts(e, moe.TopK, n))));
                foreach (int n in ns)
                {
                    int rows = n * moe.TopK;
                    var counts = RoutedCounts(e, moe.TopK, n);
                    double t = times[n];
                    int hit = counts.Count(c => c > 0);
                    double bytes = hit * (double)last.Method.WeightBytesPerExpert + rows * (2.0 * k + 2.0 * nOut);
                    Add("moe_gemm", mode.Variant, shape, n, t, bytes, 2.0 * rows * nOut * (double)k,
                        $"{hit} of {e} experts hit ({rows} rows); {bytes / (t * 1e-3) / 1e9:F0} GB/s on the bytes touched",
                        mode.Mode == QuantMode.W4AFp8 ? MatrixRate.Fp8 : MatrixRate.Bf16);
                    if (mode.Variant == "bf16")
                        _run.Torch.AddKernel("moe_gemm", mode.Variant, shape, n, new JsonObject
                        {
                            ["op"] = "grouped_mm", ["experts"] = e, ["n"] = nOut, ["k"] = k, ["rows"] = rows, ["instances"] = s,
                            ["counts"] = new JsonArray(counts.Select(c => (JsonNode)c).ToArray()),
                        });
                }
            }
            catch (Exception ex) when (Expected(ex)) { Fail($"moe_gemm {mode.Variant} {shape}", ex); }
        }
    }

    private static int[] Prefix(int[] counts)
    {
        var prefix = new int[counts.Length + 1];
        for (int i = 0; i < counts.Length; i++) prefix[i + 1] = prefix[i] + counts[i];
        return prefix;
    }

    // Bytes per bf16 weight's worth of storage in a mode: how many instances rotate the weights past the L2.
    private static double BytesPerBf16Weight(QuantMode mode) => mode switch
    {
        QuantMode.WInt8 => 0.5,
        QuantMode.WInt4 or QuantMode.W4AFp8 or QuantMode.Wi4A16 or QuantMode.Nvfp4 => 0.25,
        _ => 1.0,
    };

    private static double WeightBytes(QuantMode mode, int k, int n) => 2.0 * k * n * BytesPerBf16Weight(mode);

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
