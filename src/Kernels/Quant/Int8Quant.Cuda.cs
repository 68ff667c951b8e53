using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class Int8QuantCuda : Int8Quant
{
    private readonly CudaDevice _device;
    private readonly Dictionary<DType, CudaKernel> _kernels = new();

    public Int8QuantCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(DType t)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(t, out var k))
                _kernels[t] = k = _device.GetKernel("quant/int8_quant.cu", $"int8_quant_act_per_token<{t.CudaTypeName()}>");
            return k;
        }
    }

    public override void Prepare(DType activation) => _ = Kernel(activation);

    protected override void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales, int rows, int k, int kp, DevicePtr tokenCount)
    {
        var kernel = Kernel(x.DType);
        ulong px = x.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &px, &pq, &ps, &rows, &k, &kp, &pn };
        kernel.Launch((CudaStream)stream, new Dim3((uint)rows), new Dim3(256), 0, args, dependent: true);
    }
}
