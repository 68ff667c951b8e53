using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Gemm;

internal sealed unsafe class Int8ScaleEpilogueCuda : Int8ScaleEpilogue
{
    private readonly CudaDevice _device;
    private readonly Dictionary<DType, CudaKernel> _kernels = new();

    public Int8ScaleEpilogueCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(DType t)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(t, out var k))
                _kernels[t] = k = _device.GetKernel("gemm/int8_scale_epilogue.cu", $"int8_scale_epilogue<{t.CudaTypeName()}>");
            return k;
        }
    }

    public override void Prepare(DType output) => _ = Kernel(output);

    protected override void ApplyCore(ComputeStream stream, Tensor c32, Tensor aScales, Tensor wScales, Tensor c, int rows, int n, int np, DevicePtr tokenCount)
    {
        var kernel = Kernel(c.DType);
        ulong p32 = c32.Ptr.Address, psa = aScales.Ptr.Address, psw = wScales.Ptr.Address, pc = c.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &p32, &psa, &psw, &pc, &rows, &n, &np, &pn };
        kernel.Launch((CudaStream)stream, new Dim3((uint)((n + 255) / 256), (uint)rows), new Dim3(256), 0, args);
    }
}
