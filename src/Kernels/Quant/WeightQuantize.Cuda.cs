using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class WeightQuantizeCuda : WeightQuantize
{
    private const string Source = "quant/weight_quantize.cu";
    private readonly CudaDevice _device;

    public WeightQuantizeCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name) => _device.GetKernel(Source, name);

    protected override void QuantizeCore(ComputeStream stream, Tensor weights, WeightOnlyScheme scheme, Tensor q, Tensor scales)
    {
        var kernel = Kernel($"wq_quantize<{weights.DType.CudaTypeName()}>");
        ulong pw = weights.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address;
        int n = (int)weights.Dim(0), k = (int)weights.Dim(1);
        int groups = scheme.Groups(k), group = k / groups, qmax = scheme.QMax;
        uint threads = group >= 1024 ? 1024u : (uint)Math.Max(32, (group + 31) / 32 * 32);
        void** args = stackalloc void*[] { &pw, &pq, &ps, &n, &k, &group, &qmax };
        kernel.Launch((CudaStream)stream, new Dim3(checked((uint)(n * groups))), new Dim3(threads), 0, args);
    }

    protected override void RepackCore(ComputeStream stream, Tensor q, Tensor scales, WeightOnlyMatrix d)
    {
        var cs = (CudaStream)stream;
        bool int4 = d.Scheme.Format == WeightOnlyFormat.Int4;
        var repack = Kernel(int4 ? "wq_repack<true>" : "wq_repack<false>");
        ulong pq = q.Ptr.Address, pp = d.Packed.Ptr.Address;
        int n = d.N, k = d.K, chunks = d.ChunksK;
        long total = d.Packed.ByteCount / 16;
        const uint threads = 256;
        void** args = stackalloc void*[] { &pq, &pp, &n, &k, &chunks, &total };
        repack.Launch(cs, new Dim3(checked((uint)((total + threads - 1) / threads))), new Dim3(threads), 0, args);

        var rs = Kernel("wq_repack_scales");
        ulong ps = scales.Ptr.Address, pps = d.Scales.Ptr.Address;
        int groups = d.Groups, npad = d.PaddedN;
        void** sargs = stackalloc void*[] { &ps, &pps, &n, &groups, &npad };
        rs.Launch(cs, new Dim3((uint)((groups * npad + threads - 1) / threads)), new Dim3(threads), 0, sargs);
    }
}
