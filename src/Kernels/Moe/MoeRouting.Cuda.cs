using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Moe;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class MoeRoutingCuda : MoeRouting
{
    private const string Source = "moe/moe_routing.cu";
    private const uint TopKWarpsPerBlock = 4;
    private const uint AssignThreads = 512;

    private readonly CudaDevice _device;
    private readonly Dictionary<DType, CudaKernel> _topK = new();
    private CudaKernel? _assign;

    public MoeRoutingCuda(CudaDevice device) => _device = device;

    private CudaKernel TopKKernel(DType t)
    {
        lock (_topK)
        {
            if (!_topK.TryGetValue(t, out var k))
                _topK[t] = k = _device.GetKernel(Source, $"moe_topk_softmax<{t.CudaTypeName()}>");
            return k;
        }
    }

    private CudaKernel AssignKernel => _assign ??= _device.GetKernel(Source, "moe_assign");

    protected override void TopKSoftmaxCore(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK, bool renormalize,
                                            Tensor ids, Tensor weights)
    {
        var kernel = TopKKernel(logits.DType);
        ulong pl = logits.Ptr.Address, pi = ids.Ptr.Address, pw = weights.Ptr.Address, pn = tokenCount.Address;
        int experts = (int)logits.Dim(1), renorm = renormalize ? 1 : 0;
        uint blocks = (uint)((rows + TopKWarpsPerBlock - 1) / TopKWarpsPerBlock);
        void** args = stackalloc void*[] { &pl, &pi, &pw, &pn, &rows, &experts, &topK, &renorm };
        kernel.Launch((CudaStream)stream, new Dim3(blocks), new Dim3(TopKWarpsPerBlock * 32), 0, args);
    }

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
