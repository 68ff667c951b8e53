using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Random;

internal sealed unsafe class RandomFillCuda : RandomFill
{
    private readonly CudaDevice _device;
    private readonly Dictionary<DType, CudaKernel> _kernels = new();

    public RandomFillCuda(CudaDevice device) => _device = device;

    private CudaKernel KernelFor(DType t)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(t, out var k))
                _kernels[t] = k = _device.GetKernel("random/random.cu", $"random_uniform<{t.CudaTypeName()}>");
            return k;
        }
    }

    protected override void UniformCore(ComputeStream stream, Tensor output, uint seed, float scale, float offset)
    {
        var kernel = KernelFor(output.DType);
        ulong ptr = output.Ptr.Address;
        long count = output.ElementCount;
        const uint threads = 256;
        uint blocks = (uint)Math.Min((count + threads - 1) / threads, _device.Info.SmCount * 16L);
        void** args = stackalloc void*[] { &ptr, &count, &seed, &scale, &offset };
        kernel.Launch((CudaStream)stream, new Dim3(blocks), new Dim3(threads), 0, args);
    }
}
