using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Layers;

/// <summary>
/// Shape and quantization of a MoE layer.
/// </summary>
/// <param name="Experts">Routed experts E.</param>
/// <param name="TopK">Experts per token (1..E).</param>
/// <param name="Hidden">Model width H (input and output columns).</param>
/// <param name="ExpertFfn">Expert FFN width F: the fused gate/up projection is [2F, H] per expert
/// (rows [0, F) are the gate, rows [F, 2F) the up projection), the down projection [H, F].</param>
/// <param name="Renormalize">Divide the top-k softmax weights by their sum.</param>
/// <param name="SharedFfn">Shared-expert FFN width (0 = no shared experts); a dense SwiGLU MLP added to the output.</param>
/// <param name="Layout">Token layout of the group GEMMs.</param>
/// <param name="Quant">Quant mode of the expert weights (the gate and the shared experts stay bf16/fp16).</param>
/// <param name="GroupSize">wint4: per channel (the default), or the group along K (128 in FastDeploy); wi4a16: per channel
/// or 128; w4afp8: per channel or 128; others per channel.</param>
/// <param name="Seed">Seed of the random weights generated on the device.</param>
/// <param name="Nvfp4Backend">nvfp4 only: the fp4 path (QuantConfig's nvfp4_backend); only the Hopper dequant path exists.</param>
/// <param name="RouterFp32">Router weight and logits in fp32, logits = float(x) · Wᵀ accumulated in fp32 (ERNIE-4.5 keeps
/// gate.weight in fp32); otherwise both are in the activation type (Qwen3-MoE).</param>
/// <param name="SelectionBias">An fp32 bias [E] added to the softmax probabilities for choosing the experts only
/// (ERNIE-4.5's e_score_correction_bias); the weights stay the probabilities.</param>
/// <param name="NormMin">Renormalisation divides by max(sum of the chosen probabilities, NormMin) (ERNIE's moe_norm_min).</param>
/// <param name="WeightsInActivationType">Round the routing weights to the activation type before the experts use
/// them, as ERNIE's router does; Qwen3-MoE keeps them fp32.</param>
public sealed record MoeOptions(
    int Experts,
    int TopK,
    int Hidden,
    int ExpertFfn,
    bool Renormalize = true,
    int SharedFfn = 0,
    TokenLayout Layout = TokenLayout.PrefixSum,
    QuantMode Quant = QuantMode.None,
    GroupSize GroupSize = default,
    uint Seed = 1,
    string Nvfp4Backend = QuantConfig.DefaultNvfp4Backend,
    bool RouterFp32 = false,
    bool SelectionBias = false,
    double NormMin = 0,
    bool WeightsInActivationType = false)
{
    /// <summary>Throws <see cref="ArgumentException"/> (or <see cref="ArgumentOutOfRangeException"/>) naming <paramref name="layer"/> and the option when the shape, quant mode and group size do not fit together.</summary>
    public void Validate(string layer)
    {
        // Cast integers: the layer would otherwise pick a branch for a layout or mode nobody asked for.
        if (!Enum.IsDefined(Layout))
            throw new ArgumentOutOfRangeException(nameof(Layout), Layout, $"MoE layer '{layer}': layout {(int)Layout} is neither PrefixSum nor Padded");
        if (!Enum.IsDefined(Quant))
            throw new ArgumentOutOfRangeException(nameof(Quant), Quant, $"MoE layer '{layer}': quant mode {(int)Quant} is not a QuantMode");
        if (Experts < 1 || Experts > MoeRouting.MaxExperts)
            throw new ArgumentOutOfRangeException(nameof(Experts), Experts, $"MoE layer '{layer}': experts must be in [1, {MoeRouting.MaxExperts}]");
        if (TopK < 1 || TopK > Experts)
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, $"MoE layer '{layer}': topK must be in [1, experts = {Experts}]");
        if (Hidden < 1) throw new ArgumentOutOfRangeException(nameof(Hidden), Hidden, $"MoE layer '{layer}': hidden must be >= 1");
        if (ExpertFfn < 1) throw new ArgumentOutOfRangeException(nameof(ExpertFfn), ExpertFfn, $"MoE layer '{layer}': expert FFN size must be >= 1");
        if (SharedFfn < 0) throw new ArgumentOutOfRangeException(nameof(SharedFfn), SharedFfn, $"MoE layer '{layer}': shared FFN size must be >= 0 (0 = none)");
        if (!(NormMin >= 0) || double.IsInfinity(NormMin))
            throw new ArgumentOutOfRangeException(nameof(NormMin), NormMin, $"MoE layer '{layer}': norm min must be finite and >= 0");
        if (Quant is QuantMode.WInt4 or QuantMode.Wi4A16 && (Hidden % 2 != 0 || ExpertFfn % 2 != 0))
            throw new ArgumentException(
                $"MoE layer '{layer}': {Quant.Label()} packs two weights per byte, so hidden ({Hidden}) and expert FFN ({ExpertFfn}) must be even", nameof(Quant));
        if (Quant == QuantMode.Wi4A16 && (Hidden % 128 != 0 || ExpertFfn % 128 != 0))
            throw new ArgumentException(
                $"MoE layer '{layer}': wi4a16 uses groups of 128 along K, which must divide hidden ({Hidden}) and expert FFN ({ExpertFfn})", nameof(Quant));
        if (!GroupSize.Divides(Hidden))
            throw new ArgumentException($"MoE layer '{layer}': group size {GroupSize.Size} does not divide hidden = {Hidden} (K of the gate/up GEMM)", nameof(GroupSize));
        if (!GroupSize.Divides(ExpertFfn))
            throw new ArgumentException($"MoE layer '{layer}': group size {GroupSize.Size} does not divide expert FFN = {ExpertFfn} (K of the down GEMM)", nameof(GroupSize));
    }
}

/// <summary>
/// Mixture-of-experts FFN: gate GEMM -> top-k softmax routing (device) -> scatter tokens by expert ->
/// group GEMM (fused gate/up) -> SwiGLU -> group GEMM (down) -> weighted combine back to token order,
/// plus optional shared experts. In the modes whose group GEMM fuses it (<see cref="MoeMethods.FusesSwiGlu"/>:
/// bf16/fp16, wint8, wint4) SwiGLU is the gate/up GEMM's epilogue and the [rows, 2F] product is never stored. Every step reads the device token count and skips padded rows, and all
/// workspace is rented at construction for MaxTokens, so the forward is capturable whenever its expert
/// methods are (wi4a16 is not: it plans tiles on the host).
/// </summary>
public sealed class Moe : Layer
{
    private readonly MoeOptions _o;
    private readonly Gemm _gemm;
    private readonly MoeRouting _routing;
    private readonly MoePermute _permute;
    private readonly int _maxRows;   // permuted rows at MaxTokens: T*k (prefix-sum) or E*T (padded)

    /// <summary>
    /// A MoE layer from <paramref name="input"/> to <paramref name="output"/>, renting its routing and expert workspace
    /// for MaxTokens from the context's pool and allocating its weights (owned by the layer).
    /// </summary>
    /// <param name="context">The engine's context: device, pool, MaxTokens and the device token count.</param>
    /// <param name="name">The layer's name (checkpoint style, for example "layers.3.mlp").</param>
    /// <param name="options">Shape, routing rule and quantization; checked with <see cref="MoeOptions.Validate"/>.</param>
    /// <param name="input">[MaxTokens, H] bf16 or fp16 on the context's device; the caller's.</param>
    /// <param name="output">[MaxTokens, H] of the input's type; the caller's.</param>
    /// <param name="source">Null: random weights made on the device (presets, benchmarks); else the source that fills them.</param>
    public Moe(LayerContext context, string name, MoeOptions options, Tensor input, Tensor output, IMoeWeightSource? source = null)
        : base(context, name)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(name);
        _o = options;
        int t = context.MaxTokens, h = options.Hidden, e = options.Experts, k = options.TopK, f = options.ExpertFfn;
        input.RequireRank(nameof(input), 2).RequireDevice(nameof(input), context.Device);
        if (!input.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"MoE layer '{name}': input must be BF16 or F16, got {input}", nameof(input));
        if (input.Dim(1) != h) throw new ArgumentException($"MoE layer '{name}': input has {input.Dim(1)} columns but hidden = {h}", nameof(input));
        if (input.Rows < t) throw new ArgumentException($"MoE layer '{name}': input must have >= MaxTokens = {t} rows, got {input}", nameof(input));
        output.Require(nameof(output), input.DType).RequireRank(nameof(output), 2).RequireDevice(nameof(output), context.Device);
        if (output.Dim(1) != h) throw new ArgumentException($"MoE layer '{name}': output has {output.Dim(1)} columns but hidden = {h}", nameof(output));
        if (output.Rows < t) throw new ArgumentException($"MoE layer '{name}': output must have >= MaxTokens = {t} rows, got {output}", nameof(output));
        Input = input;
        Output = output;
        Activation = input.DType;
        _maxRows = checked(options.Layout == TokenLayout.PrefixSum ? t * k : e * t);

        _gemm = Own(Gemm.Create(Device));
        _routing = MoeRouting.Create(Device);
        _permute = MoePermute.Create(Device);

        try
        {
            var pool = context.Pool;
            var act = Activation;
            var routerType = options.RouterFp32 ? DType.F32 : act;
            // Zeroed: the top-k kernels issue a row's logit loads before they read the token count (moe_routing.cu,
            // moe_topk_softmax: the two latencies overlap), so they read and drop the rows past it, which the router never writes.
            Own(pool.RentZeroedTensor(routerType, new long[] { t, e }, out var logits, $"{name}.logits"));
            Own(pool.RentTensor(DType.I32, new long[] { t, k }, out var ids, $"{name}.topk_ids"));
            Own(pool.RentTensor(DType.F32, new long[] { t, k }, out var weights, $"{name}.topk_weights"));
            Own(pool.RentTensor(DType.I32, new long[] { e + 1 }, out var offsets, $"{name}.offsets"));
            Own(pool.RentTensor(DType.I32, new long[] { e }, out var counts, $"{name}.counts"));
            Own(pool.RentTensor(DType.I32, new long[] { _maxRows }, out var perm, $"{name}.permutation"));
            Own(pool.RentTensor(DType.I32, new long[] { (long)t * k }, out var inverse, $"{name}.inverse"));
            Own(pool.RentTensor(act, new long[] { _maxRows, h }, out var permuted, $"{name}.permuted"));
            // The unfused gate/up product only where SwiGLU runs after it.
            Tensor gateUp = default;
            if (!MoeMethods.FusesSwiGlu(options.Quant)) Own(pool.RentTensor(act, new long[] { _maxRows, 2L * f }, out gateUp, $"{name}.gate_up"));
            Own(pool.RentTensor(act, new long[] { _maxRows, f }, out var swiglu, $"{name}.swiglu"));
            Own(pool.RentTensor(act, new long[] { _maxRows, h }, out var expertOut, $"{name}.expert_out"));
            Logits = logits; TopIds = ids; TopWeights = weights; Offsets = offsets; Counts = counts;
            Permutation = perm; Inverse = inverse; _permuted = permuted; _gateUp = gateUp; _swiglu = swiglu; _expertOut = expertOut;

            var load = context.LoadStream;

            // Weights: random on the device, then quantized there by the methods.
            var fill = RandomFill.Create(Device);
            uint seed = options.Seed * 7919u;
            Own(Device.AllocateTensor(routerType, new long[] { e, h }, out var gate, $"{name}.gate_weight"));
            if (source is null) fill.Uniform(load, gate, seed, 3f / MathF.Sqrt(h));
            else source.Fill(MoeWeight.Router, gate);
            seed++;
            GateWeight = gate;
            if (options.SelectionBias)
            {
                Own(Device.AllocateTensor(DType.F32, new long[] { e }, out var bias, $"{name}.selection_bias"));
                // Of the order of the probabilities (1/E) so that random weights exercise a selection the bias changes.
                if (source is null) fill.Uniform(load, bias, seed ^ 0x5bd1e995u, 1f / e);
                else source.Fill(MoeWeight.SelectionBias, bias);
                SelectionBiasWeight = bias;
            }
            int maxBound = options.Layout == TokenLayout.PrefixSum ? t * k : t;
            IMoeMethod Experts(MoeWeight which, long n, long kdim, uint fillSeed)
            {
                if (source?.Prequantized(which, Context, options, maxBound, act) is { } pre)
                {
                    Own(pre);
                    if (pre.Mode != options.Quant || pre.Experts != e || pre.N != n || pre.K != kdim)
                        throw new ArgumentException(
                            $"MoE layer '{name}': the {which} weights given are {pre.Label} [{pre.Experts}, {pre.N}, {pre.K}], the layer is {options.Quant.Label()} [{e}, {n}, {kdim}]");
                    return pre;
                }
                using var src = Device.AllocateTensor(act, new long[] { e, n, kdim }, out var w, $"{name}.{which}_source");
                if (source is null) fill.Uniform(load, w, fillSeed, 2f / MathF.Sqrt(kdim));
                else source.Fill(which, w);
                var method = Own(MoeMethods.Create(options.Quant, Device, load, w, options.GroupSize, options.Layout, maxBound, Context, options.Nvfp4Backend));
                load.Synchronize();   // the source is freed here; quantization must have read it
                return method;
            }
            GateUp = Experts(MoeWeight.GateUp, 2L * f, h, seed);
            Down = Experts(MoeWeight.Down, h, f, seed + 1);
            seed += 2;

            if (options.SharedFfn > 0)
            {
                int fs = options.SharedFfn;
                Own(Device.AllocateTensor(act, new long[] { 2L * fs, h }, out var su, $"{name}.shared_gate_up"));
                Own(Device.AllocateTensor(act, new long[] { h, fs }, out var sd, $"{name}.shared_down"));
                if (source is null)
                {
                    fill.Uniform(load, su, seed, 2f / MathF.Sqrt(h));
                    fill.Uniform(load, sd, seed + 1, 2f / MathF.Sqrt(fs));
                    load.Synchronize();
                }
                else
                {
                    source.Fill(MoeWeight.SharedGateUp, su);
                    source.Fill(MoeWeight.SharedDown, sd);
                }
                Own(pool.RentTensor(act, new long[] { t, 2L * fs }, out var sh1, $"{name}.shared_gate_up_out"));
                // Zeroed: SwiGLU writes the token count's rows, the down GEMM reads the padded size's.
                Own(pool.RentZeroedTensor(act, new long[] { t, fs }, out var sh2, $"{name}.shared_swiglu"));
                Own(pool.RentTensor(act, new long[] { t, h }, out var sh3, $"{name}.shared_out"));
                SharedGateUp = su; SharedDown = sd; _sharedH = sh1; _sharedAct = sh2; SharedOut = sh3;
            }
        }
        catch
        {
            Dispose();   // whatever was rented or allocated so far goes back
            throw;
        }
    }

    private readonly Tensor _permuted, _gateUp, _swiglu, _expertOut, _sharedH, _sharedAct;

    /// <summary>The shape and quantization the layer was built with.</summary>
    public MoeOptions Options => _o;
    /// <summary>The activation type of input and output (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <see cref="LayerKind.Moe"/>.
    public override LayerKind Kind => LayerKind.Moe;
    /// <summary>The experts' quant mode.</summary>
    public override QuantMode Quant => _o.Quant;
    /// <summary>The gate/up method's label.</summary>
    public override string QuantLabel => GateUp.Label;
    /// <summary>[MaxTokens, H].</summary>
    public override Tensor Input { get; }
    /// <summary>[MaxTokens, H].</summary>
    public override Tensor Output { get; }

    /// <summary>Capturable only when both expert methods are; otherwise their reason (wi4a16's host tile planning).</summary>
    public override Capturability Capturability =>
        !GateUp.Capturability.CanCapture ? GateUp.Capturability : Down.Capturability;

    /// <summary>Gate and shared weights plus every expert's (an upper bound: experts with no rows are not read).</summary>
    public override long WeightBytes => FixedWeightBytes + (long)_o.Experts * (GateUp.WeightBytesPerExpert + Down.WeightBytesPerExpert);

    /// <summary>What every step reads whatever the routing: the router weight, its selection bias and the shared experts.</summary>
    public long FixedWeightBytes =>
        GateWeight.ByteCount + (SelectionBiasWeight.IsEmpty ? 0 : SelectionBiasWeight.ByteCount)
        + Activation.ByteCount(3L * _o.SharedFfn * _o.Hidden);

    /// <summary>Experts that received at least one row in the last step (reads <see cref="Counts"/>; synchronous).</summary>
    public int ExpertsHit() => Counts.ToArray<int>().Count(c => c > 0);

    /// <summary>The experts' fused gate/up projection: N = 2F, K = H.</summary>
    public IMoeMethod GateUp { get; }
    /// <summary>The experts' down projection: N = H, K = F.</summary>
    public IMoeMethod Down { get; }

    // Workspace and weights, for checks.
    /// <summary>Router weight [E, H]: fp32 with <see cref="MoeOptions.RouterFp32"/>, else the activation type.</summary>
    public Tensor GateWeight { get; }

    /// <summary>[E] fp32 selection bias; empty without <see cref="MoeOptions.SelectionBias"/>.</summary>
    public Tensor SelectionBiasWeight { get; }

    /// <summary>The routing rule the top-k kernel runs (selection bias, clamp, weight rounding).</summary>
    public RoutingRule Rule => new(_o.Renormalize, SelectionBiasWeight, (float)_o.NormMin,
        _o.WeightsInActivationType ? Activation : DType.F32);
    /// <summary>Shared experts' gate/up weight [2·SharedFfn, H]; empty without shared experts.</summary>
    public Tensor SharedGateUp { get; }
    /// <summary>Shared experts' down weight [H, SharedFfn]; empty without shared experts.</summary>
    public Tensor SharedDown { get; }
    internal Tensor SharedOut { get; }
    /// <summary>Router logits [MaxTokens, E] (workspace).</summary>
    public Tensor Logits { get; }
    /// <summary>Chosen experts [MaxTokens, k] int32 of the last forward.</summary>
    public Tensor TopIds { get; }
    /// <summary>Routing weights [MaxTokens, k] fp32 of the last forward.</summary>
    public Tensor TopWeights { get; }
    /// <summary>Start row of each expert's group [E + 1] int32 (workspace).</summary>
    public Tensor Offsets { get; }
    /// <summary>Rows routed to each expert [E] int32 (workspace).</summary>
    public Tensor Counts { get; }
    /// <summary>Token row of each permuted row, [T·k] (prefix-sum layout) or [E·T] (padded) int32 (workspace).</summary>
    public Tensor Permutation { get; }
    /// <summary>Permuted row of each (token, choice), [T·k] int32 (workspace).</summary>
    public Tensor Inverse { get; }

    /// <summary>Routes, runs the experts and combines for rows [0, <paramref name="paddedTokens"/>); rows at or past the device token count are skipped.</summary>
    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ValidatePadded(paddedTokens);
        // Refuse before enqueuing anything, so a capture attempt fails cleanly with the reason.
        if (stream.IsCapturing && Capturability is { CanCapture: false } c)
            throw new StreamCaptureException($"MoE layer '{Name}' ({QuantLabel}) cannot be captured: {c.Reason}");
        int s = paddedTokens, e = _o.Experts, k = _o.TopK, h = _o.Hidden, f = _o.ExpertFfn;
        var tok = Context.TokenCount;
        var layout = _o.Layout;
        bool prefix = layout == TokenLayout.PrefixSum;
        int rows = prefix ? s * k : e * s;   // permuted rows this step; padded slabs are [E, S, *]

        var routed = new MoeRoutingBuffers(Logits, TopIds, TopWeights, layout, s, Offsets, Counts, Permutation, Inverse);
        if (_o.RouterFp32)
        {
            _routing.RouteFp32(stream, Input, GateWeight, s, tok, k, Rule, routed);
        }
        else
        {
            _gemm.MatMul(stream, Input, GateWeight, Logits, s);
            _routing.Route(stream, s, tok, k, Rule, routed);
        }

        var a = View(_permuted, rows, h);
        _permute.Scatter(stream, Input, Inverse, s, tok, k, a);

        var (gateUp, down) = ExpertProblems(_o, s);
        var act = View(_swiglu, rows, f);
        if (gateUp.Epilogue == GroupGemmEpilogue.SwiGlu)
        {
            GateUp.Forward(stream, Bind(gateUp, a, act));
        }
        else
        {
            var h1 = View(_gateUp, rows, 2 * f);
            GateUp.Forward(stream, Bind(gateUp, a, h1));
            _permute.SwiGlu(stream, h1, act, rows, prefix ? RowValidity.PrefixSum : RowValidity.Padded, prefix ? Offsets : Counts, tok, e, s);
        }
        var y = View(_expertOut, rows, h);
        Down.Forward(stream, Bind(down, act, y));

        Tensor? shared = null;
        if (_o.SharedFfn > 0)
        {
            _gemm.MatMul(stream, Input, SharedGateUp, _sharedH, s);
            _permute.SwiGlu(stream, _sharedH, _sharedAct, s, RowValidity.Dense, default, tok, e, 0);
            _gemm.MatMul(stream, _sharedAct, SharedDown, SharedOut, s);
            shared = SharedOut;
        }
        _permute.Combine(stream, y, Inverse, TopWeights, shared, s, tok, k, Output);
    }

    /// <summary>
    /// The host-side shapes of the two expert GEMMs a forward over <paramref name="paddedTokens"/> rows runs (tensors
    /// empty): gate/up [2F x H] and down [H x F] over S·k permuted rows (prefix sums) or E slabs of S rows (padded). The
    /// gate/up GEMM carries the SwiGLU epilogue (C = [rows, F]) in the modes whose kernels fuse it.
    /// </summary>
    public static (GroupGemmProblem GateUp, GroupGemmProblem Down) ExpertProblems(MoeOptions options, int paddedTokens)
    {
        ArgumentNullException.ThrowIfNull(options);
        int s = paddedTokens, e = options.Experts, h = options.Hidden, f = options.ExpertFfn;
        var layout = options.Layout;
        int bound = layout == TokenLayout.PrefixSum ? s * options.TopK : s;
        var epilogue = MoeMethods.FusesSwiGlu(options.Quant) ? GroupGemmEpilogue.SwiGlu : GroupGemmEpilogue.None;
        return (new GroupGemmProblem(layout, e, 2 * f, h, bound, default, default, default, epilogue),
                new GroupGemmProblem(layout, e, h, f, bound, default, default, default));
    }

    /// <summary>
    /// The CUDA kernels with a shape- or architecture-dependent choice that a forward over <paramref name="paddedTokens"/>
    /// rows runs on <paramref name="target"/>: the routing's kernels (<see cref="MoeRouting.RoutingVariants"/>: the fp32 router
    /// when the options ask for it, then one or two kernels), both expert GEMMs, the SwiGLU (the routed experts' where their
    /// gate/up GEMM does not fuse it, and the shared experts') and the combine. The gate GEMM and the shared experts' GEMMs
    /// are cuBLASLt's. Launches per forward in the fused modes: two or three routing kernels, scatter, gate/up, down,
    /// combine (6 or 7; 8 before these fusions), plus three for shared experts (GEMM, SwiGLU, GEMM); the other modes add
    /// the routed SwiGLU (and w4afp8 its two activation quantizers).
    /// </summary>
    public static IReadOnlyList<string> Variants(MoeOptions options, int paddedTokens, DType activation, LaunchTarget target)
    {
        ArgumentNullException.ThrowIfNull(options);
        int s = paddedTokens;
        var (gateUp, down) = ExpertProblems(options, s);
        var names = new List<string>();
        names.AddRange(MoeRouting.RoutingVariants(options.RouterFp32, activation, options.Hidden, options.Experts, s, target));
        names.Add(MoeMethods.Variant(options.Quant, options.GroupSize, gateUp, target));
        names.Add(MoeMethods.Variant(options.Quant, options.GroupSize, down, target));
        int rows = options.Layout == TokenLayout.PrefixSum ? s * options.TopK : options.Experts * s;
        if (gateUp.Epilogue == GroupGemmEpilogue.None) names.Add(MoePermute.SwiGluVariant(rows, options.ExpertFfn, target));
        if (options.SharedFfn > 0) names.Add(MoePermute.SwiGluVariant(s, options.SharedFfn, target));
        names.Add(MoePermute.CombineVariant(s, options.Hidden, target));
        return names.Distinct().ToArray();
    }

    private GroupGemmProblem Bind(GroupGemmProblem shape, Tensor a, Tensor c) =>
        shape.Layout == TokenLayout.PrefixSum
            ? shape with { A = a, Offsets = Offsets, C = c }
            : shape with { A = a.Reshape(shape.Experts, shape.RowsBound, shape.K), Offsets = Counts, C = c.Reshape(shape.Experts, shape.RowsBound, shape.OutputColumns) };

    private static Tensor View(Tensor t, int rows, int cols) => new(t.Device, t.Ptr, t.DType, rows, cols);
}
