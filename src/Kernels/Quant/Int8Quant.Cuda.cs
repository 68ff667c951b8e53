using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class Int8QuantCuda : Int8Quant
{
    private readonly CudaDevice _device;
    private readonly Dictionary<(DType, bool), CudaKernel> _kernels = new();

    /// <summary>Threads of a row's block (int8_quant.cu's I8Q_THREADS).</summary>
    internal const int Threads = 512;

    public Int8QuantCuda(CudaDevice device) => _device = device;

    /// <summary>The instance for an activation type; <paramref name="vector"/>: 16-byte loads (K a multiple of 8, aligned rows).</summary>
    internal static string KernelName(string type, bool vector) => $"int8_quant_act_per_token<{type}, {(vector ? "true" : "false")}>";

    private CudaKernel Kernel(DType t, bool vector)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue((t, vector), out var k))
                _kernels[(t, vector)] = k = _device.GetKernel("quant/int8_quant.cu", KernelName(t.CudaTypeName(), vector));
            return k;
        }
    }

    public override void Prepare(DType activation)
    {
        _ = Kernel(activation, true);
        _ = Kernel(activation, false);
    }

    protected override void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales, int rows, int k, int kp, DevicePtr tokenCount)
    {
        var kernel = Kernel(x.DType, k % 8 == 0 && (x.Ptr.Address & 15) == 0);
        ulong px = x.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &px, &pq, &ps, &rows, &k, &kp, &pn };
        kernel.Launch((CudaStream)stream, new Dim3((uint)rows), new Dim3(Threads), 0, args, dependent: true);
    }
}
