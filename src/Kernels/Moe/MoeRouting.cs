namespace GraphEngine.Kernels.Moe;

/// <summary>
/// MoE routing on the device, without any host read: the fp32 router (<see cref="RouterLogits"/>), then the two steps
/// below; <see cref="Route"/> and <see cref="RouteFp32"/> run them all with fewer kernels where the shape allows
/// (<see cref="RoutingVariants"/>).
/// <list type="number">
/// <item><see cref="TopKSoftmax(ComputeStream, Tensor, int, DevicePtr, int, in RoutingRule, Tensor, Tensor)"/>: gate logits -> top-k experts per token and their softmax weights.
/// Experts are chosen on the logits themselves (softmax is monotone), so the choice is exact on both
/// backends; ties go to the LOWER expert index. Weights are the fp32 softmax over all experts of the
/// chosen ones, divided by their sum when renormalizing. A <see cref="RoutingRule"/> adds ERNIE-4.5's
/// selection bias, the clamped renormalisation and the weight rounding.</item>
/// <item><see cref="Assign"/>: per-expert counts, prefix sums, the permutation (permuted row -> assignment
/// t*topK+slot) and its inverse (assignment -> permuted row). Rows of one expert are ordered by token
/// index, then slot (stable), so the result is a pure function of the ids.</item>
/// </list>
/// Rows at or past the device token count are ignored: their ids are written as -1 and they never reach
/// an expert or change a count, whatever their logits hold (NaN included).
/// </summary>
public abstract class MoeRouting
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static MoeRouting Create(Device device) =>
        KernelBackend.Create<MoeRouting>(device, cuda => new MoeRoutingCuda(cuda), () => new MoeRoutingReference());

    /// <summary>
    /// The fp32 router kernel <see cref="RouteFp32"/> runs on <paramref name="target"/> for <paramref name="rows"/> (the
    /// padded size) rows of <paramref name="hidden"/> values and <paramref name="experts"/> experts, from 16-byte aligned
    /// tensors (as the engine's pool hands out): the few-token kernel up to 128 rows, the tiled GEMM above (16 or 64
    /// experts per block, with the top-k fused when one block holds them all), each with 4- or 1-wide loads.
    /// </summary>
    public static string RouterVariant(DType activation, int hidden, int experts, int rows, LaunchTarget target) =>
        RouterPlan(activation, hidden, experts, rows, target).Name(LaunchTarget.TypeParameter);

    private static MoeRoutingPlan RouterPlan(DType activation, int hidden, int experts, int rows, LaunchTarget target) =>
        MoeRoutingPlan.Choose(rows, experts, MoeRoutingCuda.RouterVectorized(activation, hidden, 0, 0), target.SmCount);

    /// <summary>
    /// The kernels <see cref="RouteFp32"/> (<paramref name="fp32Router"/>) or <see cref="Route"/> launches for
    /// <paramref name="rows"/> rows on <paramref name="target"/>, in order: the router (fp32 only, <see cref="RouterVariant"/>),
    /// then up to 32 rows moe_topk_assign (top-k and assignment in one block); above, moe_assign after the router where it
    /// fused the top-k, else moe_topk_softmax and moe_assign. Its length is the routing's kernel count.
    /// </summary>
    public static IReadOnlyList<string> RoutingVariants(bool fp32Router, DType activation, int hidden, int experts, int rows, LaunchTarget target)
    {
        var plan = RouterPlan(activation, hidden, experts, rows, target);
        var names = new List<string>(3);
        if (fp32Router) names.Add(plan.Name(LaunchTarget.TypeParameter));
        int epl = ExpertsPerLane(experts);
        if (rows <= MoeRoutingPlan.OneBlockRoutingRows) names.Add(TopKAssignName(LaunchTarget.TypeParameter, epl));
        else
        {
            if (!(fp32Router && plan.FusedTopK)) names.Add(TopKName(LaunchTarget.TypeParameter, epl));
            names.Add(AssignVariant);
        }
        return names;
    }

    /// <summary>The instances of the warp-per-token top-k kernels: experts a lane holds in registers.</summary>
    internal static readonly int[] LaneExpertCounts = { 2, 4, 8, 32 };

    /// <summary>
    /// Experts a lane of a warp-per-token top-k holds for a layer of <paramref name="experts"/> experts: the smallest of
    /// <see cref="LaneExpertCounts"/> with 32 lanes x it >= experts. The kernels' loops unroll that many times, so a
    /// 64-expert layer runs 2-wide code rather than the 32-wide code that 1024 experts need.
    /// </summary>
    internal static int ExpertsPerLane(int experts)
    {
        if (experts >= 1)
            foreach (int epl in LaneExpertCounts)
                if (32 * epl >= experts) return epl;
        throw new ArgumentOutOfRangeException(nameof(experts), experts, $"expert count must be in [1, {MaxExperts}]");
    }

    internal static string TopKName(string type, int epl) => $"moe_topk_softmax<{type}, {epl}>";
    internal static string TopKAssignName(string type, int epl) => $"moe_topk_assign<{type}, {epl}>";
    private const string AssignVariant = "moe_assign";

    /// <summary>Every name <see cref="RoutingVariants"/> can return (the rule reads no architecture).</summary>
    public static IReadOnlyList<string> RouterVariants { get; } =
        MoeRoutingPlan.All().Select(p => p.Name(LaunchTarget.TypeParameter))
            .Concat(LaneExpertCounts.Select(e => TopKName(LaunchTarget.TypeParameter, e)))
            .Concat(LaneExpertCounts.Select(e => TopKAssignName(LaunchTarget.TypeParameter, e)))
            .Append(AssignVariant).ToArray();

    /// <param name="logits">[>= rows, E] bf16/fp16 gate logits.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count; null = all rows valid.</param>
    /// <param name="ids">[>= rows, topK] int32 chosen experts (-1 for ignored rows).</param>
    /// <param name="weights">[>= rows, topK] fp32 routing weights (0 for ignored rows).</param>
    /// <summary>Top-k softmax routing with plain renormalisation (or none): <see cref="RoutingRule"/> with only <paramref name="renormalize"/> set.</summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="topK">Experts per token (1..E).</param>
    /// <param name="renormalize">Divide the chosen weights by their sum.</param>
    public void TopKSoftmax(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK, bool renormalize,
                            Tensor ids, Tensor weights) =>
        TopKSoftmax(stream, logits, rows, tokenCount, topK, new RoutingRule(renormalize), ids, weights);

    /// <summary>Top-k routing under <paramref name="rule"/> (selection bias, clamped renormalisation, weight rounding).</summary>
    /// <param name="logits">[>= rows, E] bf16/fp16/fp32 gate logits.</param>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count; null = all rows valid.</param>
    /// <param name="topK">Experts per token (1..E).</param>
    /// <param name="rule">Selection bias, renormalisation clamp and weight rounding.</param>
    /// <param name="ids">[>= rows, topK] int32 chosen experts (-1 for ignored rows).</param>
    /// <param name="weights">[>= rows, topK] fp32 routing weights (0 for ignored rows).</param>
    public void TopKSoftmax(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK, in RoutingRule rule,
                            Tensor ids, Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckTopK(stream, logits, rows, topK, rule, ids, weights);
        if (rows == 0) return;
        TopKSoftmaxCore(stream, logits, rows, tokenCount, topK, rule, ids, weights);
    }

    /// <summary>
    /// The fp32 router GEMM: logits[t, e] = Σ_k float(x[t, k]) · w[e, k] in fp32, for valid rows only
    /// (rows at or past the device count are left as they were; routing never reads them).
    /// </summary>
    /// <param name="x">[>= rows, H] bf16/fp16 activations.</param>
    /// <param name="weight">[E, H] fp32 router weight.</param>
    /// <param name="logits">[>= rows, E] fp32.</param>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count.</param>
    public void RouterLogits(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, Tensor logits)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckRouter(stream, x, weight, rows, logits);
        if (rows == 0) return;
        RouterLogitsCore(stream, x, weight, rows, tokenCount, logits);
    }

    /// <summary>
    /// Routing from logits already computed (the activation-type gate GEMM's): the top-k softmax under <paramref name="rule"/>
    /// and the assignment, as <see cref="TopKSoftmax(ComputeStream, Tensor, int, DevicePtr, int, in RoutingRule, Tensor, Tensor)"/>
    /// then <see cref="Assign"/> (one kernel for few rows: <see cref="RoutingVariants"/>).
    /// </summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count.</param>
    /// <param name="topK">Experts per token (1..E).</param>
    /// <param name="rule">Selection bias, renormalisation clamp and weight rounding.</param>
    /// <param name="buffers">Logits read; ids, weights, counts, offsets, permutation and inverse written.</param>
    public void Route(ComputeStream stream, int rows, DevicePtr tokenCount, int topK, in RoutingRule rule, in MoeRoutingBuffers buffers)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckRoute(stream, rows, topK, rule, buffers);
        if (rows == 0) return;
        RouteCore(stream, rows, tokenCount, topK, rule, buffers);
    }

    /// <summary>
    /// The fp32 router, then <see cref="Route"/> on its logits: <see cref="RouterLogits"/>, top-k softmax and assignment,
    /// with the top-k fused into the router where one block holds every expert (<see cref="RoutingVariants"/>).
    /// </summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="x">[>= rows, H] bf16/fp16 activations.</param>
    /// <param name="weight">[E, H] fp32 router weight.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count.</param>
    /// <param name="topK">Experts per token (1..E).</param>
    /// <param name="rule">Selection bias, renormalisation clamp and weight rounding.</param>
    /// <param name="buffers">Logits (fp32, valid rows written), ids, weights, counts, offsets, permutation and inverse.</param>
    public void RouteFp32(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, int topK, in RoutingRule rule,
                          in MoeRoutingBuffers buffers)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckRouter(stream, x, weight, rows, buffers.Logits);
        CheckRoute(stream, rows, topK, rule, buffers);
        if (rows == 0) return;
        RouteFp32Core(stream, x, weight, rows, tokenCount, topK, rule, buffers);
    }

    private static void CheckRoute(ComputeStream stream, int rows, int topK, in RoutingRule rule, in MoeRoutingBuffers b)
    {
        CheckTopK(stream, b.Logits, rows, topK, rule, b.Ids, b.Weights);
        CheckAssign(stream, b.Ids, rows, (int)b.Logits.Dim(1), b.Layout, b.SlotsPerExpert, b.Offsets, b.Counts, b.Permutation, b.Inverse);
    }

    /// <param name="ids">[>= rows, topK] int32 from <see cref="TopKSoftmax(ComputeStream, Tensor, int, DevicePtr, int, in RoutingRule, Tensor, Tensor)"/>.</param>
    /// <param name="slotsPerExpert">Padded layout only: P, the rows of each expert's slab (>= rows).</param>
    /// <param name="offsets">[E + 1] int32 prefix sums of the counts (offsets[0] = 0).</param>
    /// <param name="counts">[E] int32 rows per expert.</param>
    /// <param name="permutation">Permuted row -> assignment (t*topK+slot): [rows*topK] for PrefixSum, [E*P] for Padded;
    /// entries of rows past an expert's count are left as they were.</param>
    /// <param name="inverse">[rows*topK] assignment -> permuted row (PrefixSum: offsets[e] + rank, Padded: e*P + rank);
    /// -1 for ignored tokens.</param>
    /// <summary>Groups the (token, choice) assignments by expert: counts, offsets, and the permutation both ways.</summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count; later tokens are ignored.</param>
    /// <param name="experts">E (1..MaxExperts).</param>
    /// <param name="layout">PrefixSum: experts' rows back to back; Padded: a slab of <paramref name="slotsPerExpert"/> rows per expert.</param>
    public void Assign(ComputeStream stream, Tensor ids, int rows, DevicePtr tokenCount, int experts, TokenLayout layout,
                       int slotsPerExpert, Tensor offsets, Tensor counts, Tensor permutation, Tensor inverse)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckAssign(stream, ids, rows, experts, layout, slotsPerExpert, offsets, counts, permutation, inverse);
        if (rows == 0) return;
        AssignCore(stream, ids, rows, tokenCount, experts, layout, slotsPerExpert, offsets, counts, permutation, inverse);
    }

    /// <summary>Experts the routing kernels handle (one thread per expert in the assignment kernel's block).</summary>
    public const int MaxExperts = 1024;

    private static void CheckTopK(ComputeStream stream, Tensor logits, int rows, int topK, in RoutingRule rule, Tensor ids, Tensor weights)
    {
        logits.RequireRank(nameof(logits), 2).RequireDevice(nameof(logits), stream.Device);
        if (!logits.DType.IsHalfPrecisionFloat() && logits.DType != DType.F32)
            throw new ArgumentException($"{nameof(logits)} must be BF16, F16 or F32, got {logits}", nameof(logits));
        int experts = checked((int)logits.Dim(1));
        if (experts < 1 || experts > MaxExperts)
            throw new ArgumentOutOfRangeException(nameof(logits), experts, $"expert count (columns of logits) must be in [1, {MaxExperts}]");
        if (topK < 1 || topK > experts)
            throw new ArgumentOutOfRangeException(nameof(topK), topK, $"topK must be in [1, experts = {experts}]");
        RequireRows(nameof(logits), logits, rows);
        ids.Require(nameof(ids), DType.I32).RequireRank(nameof(ids), 2).RequireDevice(nameof(ids), stream.Device);
        weights.Require(nameof(weights), DType.F32).RequireRank(nameof(weights), 2).RequireDevice(nameof(weights), stream.Device);
        if (ids.Dim(1) != topK) throw new ArgumentException($"{nameof(ids)} must have {topK} columns, got {ids}", nameof(ids));
        if (weights.Dim(1) != topK) throw new ArgumentException($"{nameof(weights)} must have {topK} columns, got {weights}", nameof(weights));
        RequireRows(nameof(ids), ids, rows);
        RequireRows(nameof(weights), weights, rows);
        if (rule.HasSelectionBias)
        {
            if (rule.SelectionBias.DType != DType.F32 || rule.SelectionBias.ElementCount != experts)
                throw new ArgumentException($"selection bias must be F32 with {experts} elements, got {rule.SelectionBias}", nameof(rule));
            rule.SelectionBias.RequireDevice("selection bias", stream.Device);
        }
        if (!(rule.NormMin >= 0) || float.IsInfinity(rule.NormMin))
            throw new ArgumentOutOfRangeException(nameof(rule), rule.NormMin, "NormMin must be finite and >= 0");
        if (rule.WeightType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"weight type must be F32, BF16 or F16, got {rule.WeightType}", nameof(rule));
    }

    private static void CheckRouter(ComputeStream stream, Tensor x, Tensor weight, int rows, Tensor logits)
    {
        x.RequireRank(nameof(x), 2).RequireDevice(nameof(x), stream.Device);
        if (!x.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(x)} must be BF16 or F16, got {x}", nameof(x));
        weight.Require(nameof(weight), DType.F32).RequireRank(nameof(weight), 2).RequireDevice(nameof(weight), stream.Device);
        if (weight.Dim(1) != x.Dim(1))
            throw new ArgumentException($"{nameof(weight)} must have {x.Dim(1)} columns to match {x}, got {weight}", nameof(weight));
        int experts = checked((int)weight.Dim(0));
        if (experts < 1 || experts > MaxExperts)
            throw new ArgumentOutOfRangeException(nameof(weight), experts, $"expert count (rows of weight) must be in [1, {MaxExperts}]");
        logits.Require(nameof(logits), DType.F32).RequireRank(nameof(logits), 2).RequireDevice(nameof(logits), stream.Device);
        if (logits.Dim(1) != experts)
            throw new ArgumentException($"{nameof(logits)} must have {experts} columns, got {logits}", nameof(logits));
        RequireRows(nameof(x), x, rows);
        RequireRows(nameof(logits), logits, rows);
    }

    private static void CheckAssign(ComputeStream stream, Tensor ids, int rows, int experts, TokenLayout layout, int slotsPerExpert,
                                    Tensor offsets, Tensor counts, Tensor permutation, Tensor inverse)
    {
        ids.Require(nameof(ids), DType.I32).RequireRank(nameof(ids), 2).RequireDevice(nameof(ids), stream.Device);
        int topK = checked((int)ids.Dim(1));
        if (experts < 1 || experts > MaxExperts)
            throw new ArgumentOutOfRangeException(nameof(experts), experts, $"must be in [1, {MaxExperts}]");
        if (topK < 1 || topK > experts) throw new ArgumentOutOfRangeException(nameof(ids), topK, $"topK (columns of ids) must be in [1, {experts}]");
        RequireRows(nameof(ids), ids, rows);
        offsets.Require(nameof(offsets), DType.I32, experts + 1).RequireDevice(nameof(offsets), stream.Device);
        counts.Require(nameof(counts), DType.I32, experts).RequireDevice(nameof(counts), stream.Device);
        permutation.Require(nameof(permutation), DType.I32).RequireDevice(nameof(permutation), stream.Device);
        inverse.Require(nameof(inverse), DType.I32).RequireDevice(nameof(inverse), stream.Device);
        long assignments = (long)rows * topK;
        if (inverse.ElementCount < assignments)
            throw new ArgumentException($"{nameof(inverse)} must hold >= {assignments} entries (rows {rows} x topK {topK}), got {inverse}", nameof(inverse));
        long permRows = layout == TokenLayout.PrefixSum ? assignments : (long)experts * slotsPerExpert;
        if (layout == TokenLayout.Padded && slotsPerExpert < rows)
            throw new ArgumentOutOfRangeException(nameof(slotsPerExpert), slotsPerExpert, $"padded layout needs P >= rows ({rows}): one token reaches an expert at most once");
        if (permutation.ElementCount < permRows)
            throw new ArgumentException($"{nameof(permutation)} must hold >= {permRows} entries for layout {layout}, got {permutation}", nameof(permutation));
    }

    private static void RequireRows(string name, Tensor t, int rows)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "must be >= 0");
        if (t.Rows < rows) throw new ArgumentException($"{name} must have >= {rows} rows, got {t}", name);
    }

    /// <summary>The backend's kernel behind <c>TopKSoftmax</c>, called once the arguments are checked.</summary>
    protected abstract void TopKSoftmaxCore(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK,
                                            in RoutingRule rule, Tensor ids, Tensor weights);

    /// <summary>The backend's kernel behind <see cref="RouterLogits"/>, called once the arguments are checked.</summary>
    protected abstract void RouterLogitsCore(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, Tensor logits);

    /// <summary>The backend's kernels behind <see cref="Route"/>, called once the arguments are checked: by default the top-k,
    /// then the assignment.</summary>
    protected virtual void RouteCore(ComputeStream stream, int rows, DevicePtr tokenCount, int topK, in RoutingRule rule, in MoeRoutingBuffers b)
    {
        TopKSoftmaxCore(stream, b.Logits, rows, tokenCount, topK, rule, b.Ids, b.Weights);
        AssignCore(stream, b.Ids, rows, tokenCount, (int)b.Logits.Dim(1), b.Layout, b.SlotsPerExpert, b.Offsets, b.Counts, b.Permutation, b.Inverse);
    }

    /// <summary>The backend's kernels behind <see cref="RouteFp32"/>, called once the arguments are checked: by default the
    /// router, then <see cref="RouteCore"/>.</summary>
    protected virtual void RouteFp32Core(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, int topK,
                                         in RoutingRule rule, in MoeRoutingBuffers b)
    {
        RouterLogitsCore(stream, x, weight, rows, tokenCount, b.Logits);
        RouteCore(stream, rows, tokenCount, topK, rule, b);
    }

    /// <summary>The backend's kernel behind <see cref="Assign"/>, called once the arguments are checked.</summary>
    protected abstract void AssignCore(ComputeStream stream, Tensor ids, int rows, DevicePtr tokenCount, int experts, TokenLayout layout,
                                       int slotsPerExpert, Tensor offsets, Tensor counts, Tensor permutation, Tensor inverse);
}
