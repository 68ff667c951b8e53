using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class Fp8QuantCuda : Fp8Quant
{
    private readonly CudaDevice _device;
    private readonly Dictionary<(string, DType), CudaKernel> _kernels = new();

    public Fp8QuantCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name, DType t)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue((name, t), out var k))
                _kernels[(name, t)] = k = _device.GetKernel("quant/fp8_quant.cu", $"{name}<{t.CudaTypeName()}>");
            return k;
        }
    }

    /// <summary>Compiles the activation kernels now, so a first forward inside a capture does not compile.</summary>
    public override void Prepare(DType t, Fp8ActScaling scaling) =>
        _ = Kernel(scaling == Fp8ActScaling.PerToken128 ? "fp8_quant_act_group128" : "fp8_quant_act_per_token", t);

    protected override void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales,
        Fp8ActScaling scaling, int rows, int k, int kp, DevicePtr tokenCount)
    {
        var kernel = Kernel(scaling == Fp8ActScaling.PerToken128 ? "fp8_quant_act_group128" : "fp8_quant_act_per_token", x.DType);
        ulong px = x.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &px, &pq, &ps, &rows, &k, &kp, &pn };
        kernel.Launch((CudaStream)stream, new Dim3((uint)rows), new Dim3(256), 0, args);
    }

    protected override void QuantizeWeightsCore(ComputeStream stream, Tensor w, Tensor q, Tensor scales, int n, int k, int np, int kp)
    {
        var kernel = Kernel("fp8_quant_weight_block128", w.DType);
        ulong pw = w.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address;
        void** args = stackalloc void*[] { &pw, &pq, &ps, &n, &k, &kp };
        kernel.Launch((CudaStream)stream, new Dim3((uint)(kp / Block), (uint)(np / Block)), new Dim3(256), 0, args);
    }
}
