using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class MoeRoutingCuda : MoeRouting
{
    private const string Source = "moe/moe_routing.cu";
    private const uint TopKWarpsPerBlock = 4;
    private const uint AssignThreads = 512;

    private const uint RouterWarps = 8;           // ROUTER_WARPS in moe_routing.cu
    private const int RouterTokensPerBlock = 8;   // ROUTER_TOKENS
    private const int RouterExpertsPerBlock = 4;  // ROUTER_EXPERTS

    private readonly CudaDevice _device;
    private readonly Dictionary<(DType, int), CudaKernel> _topK = new();
    private readonly Dictionary<DType, CudaKernel> _router = new();
    private readonly Dictionary<(DType, int), CudaKernel> _tiled = new();
    private readonly Dictionary<(DType, int), CudaKernel> _topKAssign = new();
    private CudaKernel? _assign;

    public MoeRoutingCuda(CudaDevice device) => _device = device;

    private CudaKernel TopKKernel(DType t, int experts)
    {
        int epl = ExpertsPerLane(experts);
        lock (_topK)
        {
            if (!_topK.TryGetValue((t, epl), out var k))
                _topK[(t, epl)] = k = _device.GetKernel(Source, TopKName(t.CudaTypeName(), epl));
            return k;
        }
    }

    private CudaKernel RouterKernel(DType t)
    {
        lock (_router)
        {
            if (!_router.TryGetValue(t, out var k))
                _router[t] = k = _device.GetKernel(Source, $"moe_router_fp32<{t.CudaTypeName()}>");
            return k;
        }
    }

    private CudaKernel TiledKernel(DType t, int blockExperts)
    {
        lock (_tiled)
        {
            if (!_tiled.TryGetValue((t, blockExperts), out var k))
                _tiled[(t, blockExperts)] = k = _device.GetKernel(Source, $"moe_router_tiled<{t.CudaTypeName()}, {blockExperts}>");
            return k;
        }
    }

    private CudaKernel TopKAssignKernel(DType t, int experts)
    {
        int epl = ExpertsPerLane(experts);
        lock (_topKAssign)
        {
            if (!_topKAssign.TryGetValue((t, epl), out var k))
                _topKAssign[(t, epl)] = k = _device.GetKernel(Source, TopKAssignName(t.CudaTypeName(), epl));
            return k;
        }
    }

    private CudaKernel AssignKernel => _assign ??= _device.GetKernel(Source, "moe_assign");

    protected override void TopKSoftmaxCore(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK,
                                            in RoutingRule rule, Tensor ids, Tensor weights)
    {
        var kernel = TopKKernel(logits.DType, (int)logits.Dim(1));
        ulong pl = logits.Ptr.Address, pb = rule.HasSelectionBias ? rule.SelectionBias.Ptr.Address : 0UL;
        ulong pi = ids.Ptr.Address, pw = weights.Ptr.Address, pn = tokenCount.Address;
        int experts = (int)logits.Dim(1), renorm = rule.Renormalize ? 1 : 0, round = rule.RoundCode;
        float normMin = rule.NormMin;
        uint blocks = (uint)((rows + TopKWarpsPerBlock - 1) / TopKWarpsPerBlock);
        void** args = stackalloc void*[] { &pl, &pb, &pi, &pw, &pn, &rows, &experts, &topK, &renorm, &normMin, &round };
        kernel.Launch((CudaStream)stream, new Dim3(blocks), new Dim3(TopKWarpsPerBlock * 32), 0, args, dependent: true);
    }

    private MoeRoutingPlan Plan(Tensor x, Tensor weight, int rows) =>
        MoeRoutingPlan.Choose(rows, (int)weight.Dim(0), RouterVectorized(x.DType, (int)x.Dim(1), x.Ptr.Address, weight.Ptr.Address),
            _device.Info.SmCount);

    protected override void RouterLogitsCore(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, Tensor logits)
    {
        var plan = Plan(x, weight, rows);
        if (plan.Tiled) { LaunchTiled(stream, plan, x, weight, rows, tokenCount, logits, 0, default, default, default); return; }
        var kernel = RouterKernel(x.DType);
        ulong px = x.Ptr.Address, pw = weight.Ptr.Address, pl = logits.Ptr.Address, pn = tokenCount.Address;
        int hidden = (int)x.Dim(1), experts = (int)weight.Dim(0);
        int vec4 = plan.Vectorized ? 1 : 0;
        var grid = new Dim3((uint)((rows + RouterTokensPerBlock - 1) / RouterTokensPerBlock),
                            (uint)((experts + RouterExpertsPerBlock - 1) / RouterExpertsPerBlock));
        void** args = stackalloc void*[] { &px, &pw, &pl, &pn, &rows, &hidden, &experts, &vec4 };
        kernel.Launch((CudaStream)stream, grid, new Dim3(RouterWarps * 32), 0, args, dependent: true);
    }

    protected override void RouteFp32Core(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, int topK,
                                          in RoutingRule rule, in MoeRoutingBuffers b)
    {
        var plan = Plan(x, weight, rows);
        if (!plan.FusedTopK)
        {
            base.RouteFp32Core(stream, x, weight, rows, tokenCount, topK, rule, b);
            return;
        }
        LaunchTiled(stream, plan, x, weight, rows, tokenCount, b.Logits, topK, rule, b.Ids, b.Weights);
        AssignCore(stream, b.Ids, rows, tokenCount, (int)weight.Dim(0), b.Layout, b.SlotsPerExpert, b.Offsets, b.Counts, b.Permutation, b.Inverse);
    }

    protected override void RouteCore(ComputeStream stream, int rows, DevicePtr tokenCount, int topK, in RoutingRule rule, in MoeRoutingBuffers b)
    {
        if (rows > MoeRoutingPlan.OneBlockRoutingRows)
        {
            base.RouteCore(stream, rows, tokenCount, topK, rule, b);
            return;
        }
        var kernel = TopKAssignKernel(b.Logits.DType, (int)b.Logits.Dim(1));
        ulong pl = b.Logits.Ptr.Address, pb = rule.HasSelectionBias ? rule.SelectionBias.Ptr.Address : 0UL;
        ulong pi = b.Ids.Ptr.Address, pw = b.Weights.Ptr.Address, po = b.Offsets.Ptr.Address, pc = b.Counts.Ptr.Address,
              pp = b.Permutation.Ptr.Address, pv = b.Inverse.Ptr.Address, pn = tokenCount.Address;
        int experts = (int)b.Logits.Dim(1), renorm = rule.Renormalize ? 1 : 0, round = rule.RoundCode;
        int padded = b.Layout == TokenLayout.Padded ? b.SlotsPerExpert : 0;
        float normMin = rule.NormMin;
        // A warp per token up to 16 rows (two per warp at 32), at least 4 warps for the counting and clearing loops;
        // 512 is the kernel's launch bound.
        uint threads = (uint)Math.Clamp(32 * rows, 128, 512);
        void** args = stackalloc void*[] { &pl, &pb, &pi, &pw, &po, &pc, &pp, &pv, &pn, &rows, &experts, &topK, &renorm, &normMin, &round, &padded };
        kernel.Launch((CudaStream)stream, new Dim3(1), new Dim3(threads), 0, args, dependent: true);
    }

    /// <summary>The tiled router; with <paramref name="topK"/> &gt; 0 (a fused plan) it also writes ids and weights under <paramref name="rule"/>.</summary>
    private void LaunchTiled(ComputeStream stream, MoeRoutingPlan plan, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, Tensor logits,
                             int topK, in RoutingRule rule, Tensor ids, Tensor weights)
    {
        var kernel = TiledKernel(x.DType, plan.BlockExperts);
        ulong px = x.Ptr.Address, pw = weight.Ptr.Address, pl = logits.Ptr.Address, pn = tokenCount.Address;
        bool fused = topK > 0;
        ulong pb = fused && rule.HasSelectionBias ? rule.SelectionBias.Ptr.Address : 0UL;
        ulong pi = fused ? ids.Ptr.Address : 0UL, pwt = fused ? weights.Ptr.Address : 0UL;
        int hidden = (int)x.Dim(1), experts = (int)weight.Dim(0), vec4 = plan.Vectorized ? 1 : 0;
        int renorm = rule.Renormalize ? 1 : 0, round = rule.RoundCode;
        float normMin = rule.NormMin;
        var grid = new Dim3((uint)((rows + MoeRoutingPlan.TileTokens - 1) / MoeRoutingPlan.TileTokens),
                            (uint)((experts + plan.BlockExperts - 1) / plan.BlockExperts));
        void** args = stackalloc void*[] { &px, &pw, &pl, &pn, &rows, &hidden, &experts, &vec4, &pb, &pi, &pwt, &topK, &renorm, &normMin, &round };
        kernel.Launch((CudaStream)stream, grid, new Dim3((uint)(4 * plan.BlockExperts)), 0, args);
    }

    /// <summary>
    /// Whether the router may read four K values per load: 16-bit activations with rows of 8-byte multiples
    /// and an 8-byte aligned start, and 16-byte aligned fp32 weight rows. Otherwise it reads one at a time.
    /// </summary>
    internal static bool RouterVectorized(DType activation, int hidden, ulong x, ulong weight) =>
        activation.BitsOf() == 16 && hidden % 4 == 0 && x % 8 == 0 && weight % 16 == 0;

    protected override void AssignCore(ComputeStream stream, Tensor ids, int rows, DevicePtr tokenCount, int experts, TokenLayout layout,
                                       int slotsPerExpert, Tensor offsets, Tensor counts, Tensor permutation, Tensor inverse)
    {
        ulong pi = ids.Ptr.Address, po = offsets.Ptr.Address, pc = counts.Ptr.Address, pp = permutation.Ptr.Address,
              pv = inverse.Ptr.Address, pn = tokenCount.Address;
        int topK = (int)ids.Dim(1);
        int padded = layout == TokenLayout.Padded ? slotsPerExpert : 0;
        void** args = stackalloc void*[] { &pi, &po, &pc, &pp, &pv, &pn, &rows, &topK, &experts, &padded };
        AssignKernel.Launch((CudaStream)stream, new Dim3((uint)experts), new Dim3(AssignThreads), 0, args);
    }
}
