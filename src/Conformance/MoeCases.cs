using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;

namespace GraphEngine.Conformance;

/// <summary>
/// Conformance cases of the Moe area: the whole layer against a float64 oracle with the same routing,
/// routing (ids, counts, prefix sums, permutation, inverse) exactly against the host rules, padded rows
/// of NaN changing nothing, graph replay bit-identical to eager, and wi4a16's refusal to be captured.
/// </summary>
public static partial class MoeCases
{
    /// <summary>
    /// The layer's output against the float64 oracle. The routed path rounds four times to the activation
    /// type (gate/up output, SwiGLU output, each expert's output, the combined output; where the gate/up GEMM fuses
    /// SwiGLU its epilogue makes the first two, <see cref="Tolerance.SwiGluEpilogue"/>) and the shared experts'
    /// path four times too; fp32 accumulation adds far less. The w4afp8 oracle reproduces the kernels' own
    /// bf16 gate/up and SwiGLU values (its e4m3 quantizers must see them), leaving two roundings on the
    /// routed path.
    /// </summary>
    internal static Tolerance LayerTolerance(Spec spec)
    {
        bool quantizedActivations = spec.Mode is QuantMode.W4AFp8 or QuantMode.W8A8 or QuantMode.W4A8;
        int routed = quantizedActivations ? 2 : 4;
        int r = spec.SharedFfn > 0 ? Math.Max(routed, 4) : routed;
        string why = quantizedActivations
            ? "expert output and combine rounded (gate/up, SwiGLU and the e4m3 / int8 activations as the kernels make them)" + (spec.SharedFfn > 0 ? "; shared experts: 4 roundings" : "")
            : "gate/up, SwiGLU, expert output and combined output each rounded" + (spec.SharedFfn > 0 ? "; shared experts the same" : "");
        return new Tolerance(spec.Activation, r, why);
    }

    public static IEnumerable<ConformanceCase> Cases()
    {
        var small = new Shape(Experts: 8, TopK: 2, Hidden: 70, Ffn: 46);        // not multiples of any tile or vector
        var grouped = new Shape(Experts: 8, TopK: 2, Hidden: 128, Ffn: 128);    // group 128 must divide H and F
        var issue = new Shape(Experts: 64, TopK: 6, Hidden: 2560, Ffn: 1536);   // ERNIE-4.5-21B-A3B-like

        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
        {
            string l = layout == TokenLayout.PrefixSum ? "prefix" : "padded";
            foreach (var (mode, group) in Modes)
            {
                var shape = !group.IsPerChannel || mode is QuantMode.Wi4A16 or QuantMode.W4AFp8 or QuantMode.Nvfp4 ? grouped : small;
                string m = ModeName(mode, group);
                yield return Layer($"moe/layer/{m}/{l}/n=5/s=8", new Spec(shape, layout, mode, group, 5, 8));
                yield return Layer($"moe/layer/{m}/{l}/shared/n=7/s=16", new Spec(shape, layout, mode, group, 7, 16, SharedFfn: 40));
                if (mode != QuantMode.Wi4A16)
                    yield return OnSpec($"moe/graph/{m}/{l}/replay-equals-eager", new Spec(shape, layout, mode, group, 6, 16, SharedFfn: 24), GraphEqualsEager);
                // Every mode once at the issue's shape (the padded layout at that shape is covered by bf16 below).
                if (layout == TokenLayout.PrefixSum && mode != QuantMode.None)
                    yield return Layer($"moe/layer/{m}/{l}/issue-shape/n=128", new Spec(issue, layout, mode, group, 128, 128), CaseTier.Full);
                // The pipelined integer-weight tiles of the tens-of-rows (24-95 rows per expert: 64-row tiles) and
                // many-rows (96 and more: 128 x 128) regimes; the issue-shape cases above reach the few-rows tile.
                if (layout == TokenLayout.PrefixSum && mode is QuantMode.WInt8 or QuantMode.WInt4)
                    foreach (int n in new[] { 200, 1000 })
                        yield return Layer($"moe/layer/{m}/{l}/rows-per-expert={n * grouped.TopK / grouped.Experts}/n={n}", new Spec(grouped, layout, mode, group, n, RoundUp(n)), CaseTier.Full);
            }
            foreach (int n in new[] { 1, 127 })
                yield return Layer($"moe/layer/bf16/{l}/n={n}/s={RoundUp(n)}", new Spec(small, layout, QuantMode.None, GroupSize.PerChannel, n, RoundUp(n)));
            yield return Layer($"moe/layer/bf16/{l}/n=1000/s=1024", new Spec(small with { Experts = 16, TopK = 4 }, layout, QuantMode.None, GroupSize.PerChannel, 1000, 1024), CaseTier.Full);
            yield return Layer($"moe/layer/bf16/{l}/topk=1/n=9/s=16", new Spec(small with { TopK = 1 }, layout, QuantMode.None, GroupSize.PerChannel, 9, 16));
            yield return Layer($"moe/layer/bf16/{l}/topk=experts/n=9/s=16", new Spec(small with { TopK = 8 }, layout, QuantMode.None, GroupSize.PerChannel, 9, 16, Renormalize: false));
            yield return Layer($"moe/layer/bf16/{l}/all-tokens-one-expert/n=13/s=16", new Spec(small with { TopK = 1 }, layout, QuantMode.None, GroupSize.PerChannel, 13, 16, ZeroGate: true));
            yield return Layer($"moe/layer/fp16/{l}/n=11/s=16", new Spec(small, layout, QuantMode.None, GroupSize.PerChannel, 11, 16, Activation: DType.F16, SharedFfn: 24));
            // Shared experts wider than a SwiGLU block at few tokens (ERNIE's at n = 1): their SwiGLU splits each row's
            // columns over blocks, the one SwiGLU a fused layer still runs.
            yield return Layer($"moe/layer/bf16/{l}/wide-shared/n=3/s=4", new Spec(small, layout, QuantMode.None, GroupSize.PerChannel, 3, 4, SharedFfn: 264));
            yield return OnSpec($"moe/layer/bf16/{l}/nan-padding-changes-nothing", new Spec(small, layout, QuantMode.None, GroupSize.PerChannel, 5, 16, SharedFfn: 24), NanPaddingChangesNothing);
            // The Hopper wgmma tiles of half weights (tens of rows per expert: 64-row tiles; hundreds: 128), with K and
            // N off the 64 x 128 tile in both GEMMs.
            var halfTiles = new Shape(Experts: 8, TopK: 2, Hidden: 136, Ffn: 200);
            foreach (int n in new[] { 200, 1000 })
                yield return Layer($"moe/layer/bf16/{l}/rows-per-expert={n * halfTiles.TopK / halfTiles.Experts}/n={n}", new Spec(halfTiles, layout, QuantMode.None, GroupSize.PerChannel, n, RoundUp(n)), CaseTier.Full);
            yield return Layer($"moe/layer/fp16/{l}/rows-per-expert=250/n=1000", new Spec(halfTiles, layout, QuantMode.None, GroupSize.PerChannel, 1000, 1024, Activation: DType.F16), CaseTier.Full);
            foreach (int n in new[] { 1, 16, 128, 1000 })
                yield return Layer($"moe/layer/bf16/{l}/issue-shape/n={n}", new Spec(issue, layout, QuantMode.None, GroupSize.PerChannel, n, RoundUp(n)), CaseTier.Full);
            if (layout == TokenLayout.PrefixSum)
                yield return Layer($"moe/layer/wint4-g128/{l}/issue-shape/n=1000", new Spec(issue, layout, QuantMode.WInt4, GroupSize.Of(128), 1000, 1024), CaseTier.Full);
            yield return OnSpec($"moe/graph/bf16/{l}/issue-shape/replay-equals-eager", new Spec(issue, layout, QuantMode.None, GroupSize.PerChannel, 100, 128), GraphEqualsEager, CaseTier.Full);
        }
        foreach (var c in TileCases()) yield return c;
        foreach (var c in StreamCases()) yield return c;
        foreach (var c in RoutingCases()) yield return c;
        yield return new ConformanceCase("moe/wi4a16/not-capturable", "moe", d => Wi4A16RefusesCapture(d, new Spec(grouped, TokenLayout.PrefixSum, QuantMode.Wi4A16, GroupSize.PerChannel, 5, 8)));
    }

    /// <summary>
    /// The integer-weight group-GEMM tiles the shapes above leave out: each regime (weight streaming up to 8 rows per
    /// expert, the few-row tiles from 9, tens and hundreds of rows per expert: S·k/E = 4, 16, 32, 128) with K a multiple of 256, of 128 but not 256, of 64 but not 128, and of 32 but
    /// not 64 (the pipeline's K tile shrinks to fit), the register-staged 64-row tile (K not a multiple of 32), and
    /// wi4a16's 64-row tile. The gate/up GEMM's K is H, the down GEMM's is F. Prefix sums, 8 experts, top-2.
    /// </summary>
    private static IEnumerable<ConformanceCase> TileCases()
    {
        var perChannel = new[] { new Shape(8, 2, 256, 192), new Shape(8, 2, 384, 160) };
        var g64 = new[] { new Shape(8, 2, 256, 192), new Shape(8, 2, 384, 192) };
        var g128 = new[] { new Shape(8, 2, 256, 384) };
        var sets = new (QuantMode Mode, GroupSize Group, Shape[] Shapes)[]
        {
            (QuantMode.WInt8, GroupSize.PerChannel, perChannel), (QuantMode.WInt4, GroupSize.PerChannel, perChannel),
            (QuantMode.WInt4, GroupSize.Of(64), g64), (QuantMode.WInt4, GroupSize.Of(128), g128),
        };
        foreach (var (mode, group, shapes) in sets)
            foreach (var shape in shapes)
                foreach (int s in new[] { 16, 64, 128, 512 })
                    yield return TileCase(mode, group, shape, s);
        var odd = new Shape(8, 2, 70, 46);
        yield return TileCase(QuantMode.WInt8, GroupSize.PerChannel, odd, 256);
        yield return TileCase(QuantMode.WInt4, GroupSize.PerChannel, odd, 256);
        yield return TileCase(QuantMode.Wi4A16, GroupSize.PerChannel, new Shape(8, 2, 128, 128), 256);
    }

    /// <summary>
    /// The weight-streaming group GEMM (up to 8 rows per expert) with its K split over several blocks: the gate/up GEMM's
    /// K of 41 K blocks (64 elements for half weights, 128 for integer codes; the rule keeps 20 a split) and a grid of
    /// fewer than 8 blocks per SM, so it reduces 2 slices through the ticketed workspace; the down GEMM's shorter K runs
    /// one slice. Half K and N are not multiples of the K block or of the 32-row column block (integer K is whole groups
    /// of 128); tokens give 1 to 8 rows per expert on average (experts above 8 take two M tiles);
    /// every weight format the kernel reads, both layouts, two steps on new input per case (the second must find every
    /// ticket the first took re-armed, or it stores nothing and leaves the first step's values), and graph replay
    /// against eager. H = 1001 sends the gate/up GEMM (K odd) to the other kernels and gives the
    /// down GEMM an odd N. The cases with K = 128 above (the "grouped" shape) reach the kernel with one split.
    /// </summary>
    private static IEnumerable<ConformanceCase> StreamCases() =>
        StreamSpecs().Select(x => x.Graph
            ? OnSpec(x.Name, x.Spec, GraphEqualsEager, CaseTier.Full)
            : OnSpec(x.Name, x.Spec, LayerMatchesOracleTwice, CaseTier.Full));

    /// <summary>The specs of <see cref="StreamCases"/> with their names; Graph: a replay-equals-eager case.</summary>
    internal static IEnumerable<(string Name, Spec Spec, bool Graph)> StreamSpecs()
    {
        // Gate/up's K (H) long enough to split (40 K blocks a split pair at least: GroupGemmCuda.Stream), F short to keep
        // the host weights as small as before.
        var half = new Shape(Experts: 8, TopK: 2, Hidden: 2568, Ffn: 552);
        var integer = new Shape(Experts: 4, TopK: 2, Hidden: 5248, Ffn: 1152);
        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
        {
            string l = layout == TokenLayout.PrefixSum ? "prefix" : "padded";
            foreach (int n in new[] { 1, 13, 29 })
                yield return Stream($"bf16/{l}", half, layout, QuantMode.None, GroupSize.PerChannel, n);
            yield return Stream($"bf16/{l}/odd-n", half with { Hidden = 1001 }, layout, QuantMode.None, GroupSize.PerChannel, 5);
            foreach (var (mode, group) in new[] { (QuantMode.WInt8, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.Of(128)) })
                foreach (int n in new[] { 1, 13 })
                    yield return Stream($"{ModeName(mode, group)}/{l}", integer, layout, mode, group, n);
        }
        yield return Stream("fp16/prefix", half, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 7, DType.F16);
        // Groups of 256: two 128-wide K blocks share each scale (every other integer case has one group per K block).
        yield return Stream("wint4-g256/prefix", integer with { Hidden = 5120, Ffn = 1024 }, TokenLayout.PrefixSum, QuantMode.WInt4, GroupSize.Of(256), 13);
        yield return ("moe/stream/graph/bf16/prefix/replay-equals-eager", new Spec(half, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 13, 16), true);
        yield return ("moe/stream/graph/wint4-g128/padded/replay-equals-eager", new Spec(integer, TokenLayout.Padded, QuantMode.WInt4, GroupSize.Of(128), 13, 16), true);

        static (string, Spec, bool) Stream(string what, Shape shape, TokenLayout layout, QuantMode mode, GroupSize group, int n, DType activation = DType.BF16) =>
            ($"moe/stream/{what}/h={shape.Hidden}/f={shape.Ffn}/n={n}", new Spec(shape, layout, mode, group, n, RoundUp(n), Activation: activation), false);
    }

    private static ConformanceCase TileCase(QuantMode mode, GroupSize group, Shape shape, int padded)
    {
        int n = padded - 3;
        return Layer($"moe/layer/{ModeName(mode, group)}/prefix/tiles/rows-per-expert={padded * shape.TopK / shape.Experts}/h={shape.Hidden}/f={shape.Ffn}/n={n}",
            new Spec(shape, TokenLayout.PrefixSum, mode, group, n, padded), padded > 128 ? CaseTier.Full : CaseTier.Ci);
    }

    private static readonly (QuantMode Mode, GroupSize Group)[] Modes =
    {
        (QuantMode.None, GroupSize.PerChannel), (QuantMode.WInt8, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.PerChannel),
        (QuantMode.WInt4, GroupSize.Of(128)), (QuantMode.Wi4A16, GroupSize.PerChannel),
        (QuantMode.W4AFp8, GroupSize.PerChannel), (QuantMode.W4AFp8, GroupSize.Of(128)), (QuantMode.Nvfp4, GroupSize.PerChannel),
        (QuantMode.W8A8, GroupSize.PerChannel), (QuantMode.W4A8, GroupSize.PerChannel), (QuantMode.W4A8, GroupSize.Of(128)),
    };

    private static string ModeName(QuantMode m, GroupSize group) => m == QuantMode.None ? "bf16" : group.IsPerChannel ? m.Label() : $"{m.Label()}-{group}";

    private static int RoundUp(int n)
    {
        int s = 1;
        while (s < n) s *= 2;
        return Math.Max(s, 1);
    }

    private static ConformanceCase Layer(string name, Spec spec, CaseTier tier = CaseTier.Ci) => OnSpec(name, spec, LayerMatchesOracle, tier);

    /// <summary>A case that runs the layer of <paramref name="spec"/> at its padded size, declaring the kernels that forward runs.</summary>
    private static ConformanceCase OnSpec(string name, Spec spec, Func<Device, Spec, CaseResult> run, CaseTier tier = CaseTier.Ci) =>
        new(name, "moe", d => run(d, spec), tier) { Variants = t => Moe.Variants(spec.Options, spec.Padded, spec.Activation, t) };

    public sealed record Shape(int Experts, int TopK, int Hidden, int Ffn);

    public sealed record Spec(Shape Shape, TokenLayout Layout, QuantMode Mode, GroupSize Group, int Tokens, int Padded,
                              int SharedFfn = 0, bool Renormalize = true, bool ZeroGate = false, DType Activation = DType.BF16,
                              RouterKind Router = RouterKind.Plain, double NormMin = 0)
    {
        /// <summary>The router runs in fp32 from fp32 weights (ERNIE-4.5's gate).</summary>
        public bool Fp32Router => Router != RouterKind.Plain;

        /// <summary>The choice reads p + a selection bias (ERNIE-4.5's e_score_correction_bias).</summary>
        public bool Biased => Router == RouterKind.Ernie;

        public MoeOptions Options => new(Shape.Experts, Shape.TopK, Shape.Hidden, Shape.Ffn, Renormalize, SharedFfn, Layout, Mode, Group,
            Seed: 11,
            RouterFp32: Fp32Router, SelectionBias: Biased, NormMin: NormMin,
            WeightsInActivationType: Biased);
    }

    /// <summary>A Moe layer with its own pool, token-count scalar and input/output buffers.</summary>
    public sealed class Rig : IDisposable
    {
        private readonly List<IDisposable> _owned = new();

        public Rig(Device device, Spec spec)
        {
            Device = device;
            Spec = spec;
            Stream = device.CreateStream();
            _owned.Add(Stream);
            var pool = new DevicePool(device, 0);
            _owned.Add(pool);
            _owned.Add(device.AllocateTensor(DType.I32, new long[] { 1 }, out var count, "moe rig token count"));
            TokenCount = count;
            int maxTokens = spec.Padded;
            _owned.Add(pool.RentTensor(spec.Activation, new long[] { maxTokens, spec.Shape.Hidden }, out var input, "moe rig input"));
            _owned.Add(pool.RentTensor(spec.Activation, new long[] { maxTokens, spec.Shape.Hidden }, out var output, "moe rig output"));
            Input = input;
            Output = output;
            // The host's weights (ZeroGate: a zero router, so all logits are exactly 0 and every expert ties:
            // top-k must pick experts 0..k-1 for every token).
            Layer = new Moe(new LayerContext(device, pool, maxTokens, count.Ptr), "moe", spec.Options, input, output, MoeHostWeights.For(spec));
            _owned.Add(Layer);
        }

        public Device Device { get; }
        public Spec Spec { get; }
        public ComputeStream Stream { get; }
        public Tensor TokenCount { get; }
        public Tensor Input { get; }
        public Tensor Output { get; }
        public Moe Layer { get; }

        /// <summary>Random valid rows; rows [n, S) hold NaN or random values.</summary>
        public void FillInput(uint seed, bool nanPadding)
        {
            int h = Spec.Shape.Hidden;
            RandomFill.Create(Device).Uniform(Stream, Input, seed, 1f);
            if (nanPadding && Spec.Padded > Spec.Tokens)
            {
                var pad = Input.SliceRows(Spec.Tokens, Spec.Padded - Spec.Tokens);
                pad.Poison(Stream);
            }
            _ = h;
        }

        public void SetTokens(int n) => Stream.Fill32Async(TokenCount.Ptr, (uint)n, 1);

        public void Forward(int n)
        {
            SetTokens(n);
            Output.Poison(Stream);
            Layer.Forward(Stream, Spec.Padded);
            Stream.Synchronize();
        }

        public float[] ValidOutput(int n) => Output.SliceRows(0, n).DownloadFloats();

        public void Dispose()
        {
            for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        }
    }

    private static CaseResult LayerMatchesOracle(Device device, Spec spec)
    {
        using var rig = new Rig(device, spec);
        return LayerStep(rig, spec, seed: 5, "");
    }

    /// <summary>
    /// Two steps of one layer on one stream, each against the oracle, the second on new input: its split-K launches find
    /// the workspace and tickets the first left, so a ticket the first never re-armed shows as a wrong or stale second
    /// step (the weight-streaming cases).
    /// </summary>
    private static CaseResult LayerMatchesOracleTwice(Device device, Spec spec)
    {
        using var rig = new Rig(device, spec);
        return CaseResult.All(LayerStep(rig, spec, seed: 5, ""), LayerStep(rig, spec, seed: 6, "second step, new input: "));
    }

    private static CaseResult LayerStep(Rig rig, Spec spec, uint seed, string step)
    {
        rig.FillInput(seed, nanPadding: true);
        rig.Forward(spec.Tokens);
        var actual = rig.ValidOutput(spec.Tokens);
        var ((_, expected), quantizers) = OracleWithChecks(rig, spec.Tokens);
        var numeric = Checks.Close($"{step}{rig.Layer.QuantLabel} {spec.Layout} n={spec.Tokens} (every token)", expected, actual, spec.Shape.Hidden, LayerTolerance(spec));
        var extra = spec.ZeroGate
            ? Checks.Equal("counts with every logit tied", AllOnFirst(spec), rig.Layer.Counts.DownloadInts())
            : CaseResult.Pass("");
        return CaseResult.All(RoutingVsFloat64(rig, spec.Tokens), CheckRouting(rig, spec.Tokens), quantizers, numeric, extra);
    }

    /// <summary>
    /// The device's logits against float64 logits of the host's router weight (x·Wgᵀ), its expert choice
    /// against the float64 top-k (swaps only at near-ties), and its weights against float64 softmax weights.
    /// </summary>
    internal static CaseResult RoutingVsFloat64(Rig rig, int n)
    {
        var spec = rig.Spec;
        var layer = rig.Layer;
        int e = spec.Shape.Experts, k = spec.Shape.TopK;
        bool fp32 = spec.Fp32Router;
        var x = rig.Input.SliceRows(0, n).DownloadFloats();
        var r = Route64(spec, x, n);
        var logits = layer.Logits.SliceRows(0, n).DownloadFloats();
        var logitTol = fp32
            ? new Tolerance(DType.F32, 1, "fp32 router: fp32 accumulation over H", Accumulation: 2e-5)
            : Tolerance.OneRounding(spec.Activation, "router GEMM: fp32 accumulation, logits rounded once");
        var ids = layer.TopIds.SliceRows(0, n).DownloadInts();
        var selection = SameSelection("expert selection vs float64 top-k", TopK64(r.Scores, n, e, k), ids, r.Scores, n, e, k,
            fp32 ? BiasedTieMargin : Bf16LogitTieMargin);
        var (wTol, why) = layer.Rule.WeightType != DType.F32
            ? (5e-3, "weights rounded to the activation type: one ulp apart where the fp32 value straddles a rounding boundary")
            : fp32 ? (1e-5, "fp32 router and softmax vs float64") : (1e-2, "bf16 logits may round to the neighbouring value (~2^-8 in p)");
        return CaseResult.All(
            Checks.Close("router logits vs float64 x·Wgᵀ", r.Logits, logits, e, logitTol),
            selection,
            Checks.Close("routing weights vs float64 softmax", Weights64(spec, layer.Rule, r, ids, n), layer.TopWeights.SliceRows(0, n).ToArray<float>(), wTol, why));
    }

    private static int[] AllOnFirst(Spec spec)
    {
        var c = new int[spec.Shape.Experts];
        for (int s = 0; s < spec.Shape.TopK; s++) c[s] = spec.Tokens;
        return c;
    }

    /// <summary>
    /// Ids and weights as the host rules give them from the device's logits (ids exactly; with a selection bias
    /// a swap between two experts whose fp32 scores are within <see cref="BiasedTieMargin"/> is allowed, since
    /// the kernel's softmax sum is a tree sum), then counts, prefix sums, permutation and inverse exactly as the
    /// host assignment gives them from the device's ids.
    /// </summary>
    internal static CaseResult CheckRouting(Rig rig, int n)
    {
        var spec = rig.Spec;
        int e = spec.Shape.Experts, k = spec.Shape.TopK, s = spec.Padded;
        var rule = rig.Layer.Rule;
        var logits = rig.Layer.Logits.SliceRows(0, n).DownloadFloats();
        var bias = rule.HasSelectionBias ? rule.SelectionBias.DownloadFloats() : Array.Empty<float>();
        var ids = rig.Layer.TopIds.SliceRows(0, n).DownloadInts();
        var weights = rig.Layer.TopWeights.SliceRows(0, n).ToArray<float>();
        var hostIds = new int[n * k];
        var hostW = new float[n * k];
        for (int t = 0; t < n; t++)
            MoeRoutingHost.TopK(logits.AsSpan(t * e, e), k, rule, bias, hostIds.AsSpan(t * k, k), hostW.AsSpan(t * k, k));
        CaseResult idCheck;
        if (rule.HasSelectionBias)
        {
            var scores = new double[n * e];
            for (int t = 0; t < n; t++)
            {
                var p = Softmax64(logits.AsSpan(t * e, e));
                for (int x = 0; x < e; x++) scores[t * e + x] = p[x] + bias[x];
            }
            idCheck = SameSelection("top-k ids (selection bias)", hostIds, ids, scores, n, e, k, BiasedTieMargin);
        }
        else
        {
            idCheck = Checks.Equal("top-k ids", hostIds, ids);
        }
        var a = MoeRoutingHost.Assign(ids, n, k, e, spec.Layout, s);
        var permChecked = AssignedSlots(rig.Layer.Permutation, a.Permutation);
        var inverse = rig.Layer.Inverse.SliceRows(0, n * k).DownloadInts();
        var wd = Array.ConvertAll(hostW, x => (double)x);
        var (wTol, wWhy) = rule.WeightType == DType.F32
            ? (1e-5, "fp32 softmax; exp and summation order differ by ulps")
            : (5e-3, "weights rounded to the activation type: one ulp apart where the fp32 values straddle a rounding boundary");
        return CaseResult.All(
            idCheck,
            Checks.Close("top-k weights", wd, weights, wTol, wWhy),
            Checks.Equal("expert counts", a.Counts, rig.Layer.Counts.DownloadInts()),
            Checks.Equal("prefix sums", a.Offsets, rig.Layer.Offsets.DownloadInts()),
            Checks.Equal("permutation", a.Permutation, permChecked),
            Checks.Equal("inverse", a.Inverse, inverse));
    }

    /// <summary>
    /// The device permutation at the slots the host assignment fills (<paramref name="host"/> ≥ 0), -1 at the others. Only
    /// those runs are read: the slots past an expert's count are never written (padded layout), so reading them would
    /// copy memory no one initialized (compute-sanitizer initcheck reports it).
    /// </summary>
    private static int[] AssignedSlots(Tensor permutation, int[] host)
    {
        var slots = new int[host.Length];
        Array.Fill(slots, -1);
        for (int i = 0; i < host.Length;)
        {
            if (host[i] < 0) { i++; continue; }
            int end = i;
            while (end < host.Length && host[end] >= 0) end++;
            permutation.SliceRows(i, end - i).DownloadInts().CopyTo(slots, i);
            i = end;
        }
        return slots;
    }

    /// <summary>The same valid rows with random or NaN padding give bit-identical outputs and routing.</summary>
    private static CaseResult NanPaddingChangesNothing(Device device, Spec spec)
    {
        using var rig = new Rig(device, spec);
        rig.FillInput(seed: 9, nanPadding: false);
        rig.Forward(spec.Tokens);
        var clean = rig.ValidOutput(spec.Tokens);
        var counts = rig.Layer.Counts.DownloadInts();
        rig.FillInput(seed: 9, nanPadding: true);
        rig.Forward(spec.Tokens);
        var withNan = rig.ValidOutput(spec.Tokens);
        return CaseResult.All(
            Checks.BitEqual("valid rows with NaN padding vs random padding", clean, withNan),
            Checks.Equal("expert counts with NaN padding", counts, rig.Layer.Counts.DownloadInts()),
            CheckRouting(rig, spec.Tokens));
    }

    /// <summary>
    /// Captures the layer at S, then replays it at a different valid count than the one captured and
    /// compares with an eager forward at that count, bit for bit.
    /// </summary>
    private static CaseResult GraphEqualsEager(Device device, Spec spec)
    {
        using var rig = new Rig(device, spec);
        rig.FillInput(seed: 21, nanPadding: true);
        int replayN = Math.Max(1, spec.Tokens - 3);

        rig.SetTokens(spec.Tokens);
        rig.Stream.BeginCapture();
        DeviceGraph graph;
        try
        {
            rig.Layer.Forward(rig.Stream, spec.Padded);
        }
        catch
        {
            rig.Stream.AbortCapture();
            throw;
        }
        graph = rig.Stream.EndCapture();
        using (graph)
        {
            // All S rows are compared: rows past n are zeros by contract, so a replay that used the
            // captured count instead of the current one would differ there (and in the counts).
            rig.Forward(replayN);
            var eager = rig.ValidOutput(spec.Padded);
            var eagerCounts = rig.Layer.Counts.DownloadInts();

            rig.SetTokens(replayN);
            rig.Output.Poison(rig.Stream);
            graph.Launch(rig.Stream);
            rig.Stream.Synchronize();
            var replay = rig.ValidOutput(spec.Padded);
            return CaseResult.All(
                Checks.BitEqual($"{rig.Layer.QuantLabel} graph replay (captured at n={spec.Tokens}, replayed at n={replayN}) vs eager", eager, replay),
                Checks.Equal("expert counts replay vs eager", eagerCounts, rig.Layer.Counts.DownloadInts()),
                Checks.True(ErrorMetrics.FirstNonFinite(replay) < 0, "replay wrote every valid element"));
        }
    }

    /// <summary>wi4a16 says it cannot be captured and why; a capture attempt fails cleanly and eager still works.</summary>
    private static CaseResult Wi4A16RefusesCapture(Device device, Spec spec)
    {
        using var rig = new Rig(device, spec);
        var cap = rig.Layer.Capturability;
        var declared = Checks.True(!cap.CanCapture && (cap.Reason ?? "").Contains("host", StringComparison.Ordinal),
            $"wi4a16 capturability: {cap.CanCapture}, reason: {cap.Reason}");
        rig.FillInput(seed: 3, nanPadding: true);
        rig.SetTokens(spec.Tokens);
        rig.Stream.BeginCapture();
        string? error = null;
        try
        {
            rig.Layer.Forward(rig.Stream, spec.Padded);
        }
        catch (StreamCaptureException e)
        {
            error = e.Message;
        }
        finally
        {
            rig.Stream.AbortCapture();
        }
        var refused = Checks.True(error is not null && !rig.Stream.IsCapturing, $"capture attempt refused: {error ?? "no error"}");
        rig.Forward(spec.Tokens);
        var (_, expected) = Oracle(rig, spec.Tokens);
        var eager = Checks.Close("wi4a16 eager after the refused capture", expected, rig.ValidOutput(spec.Tokens), spec.Shape.Hidden, LayerTolerance(spec));
        return CaseResult.All(declared, refused, eager);
    }
}
