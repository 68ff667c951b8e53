using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Fp8;

internal sealed unsafe class BlockFp8GemmCuda : BlockFp8Gemm
{
    private const int TileM = 64, TileN = 128;
    private readonly CudaDevice _device;
    private readonly Dictionary<DType, CudaKernel> _kernels = new();

    public BlockFp8GemmCuda(CudaDevice device) => _device = device;

    public override void Prepare(DType output) => _ = Kernel(output);

    private CudaKernel Kernel(DType output)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(output, out var k))
                _kernels[output] = k = _device.GetKernel("block_fp8_gemm.cu", $"block_fp8_gemm<{output.CudaTypeName()}>");
            return k;
        }
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int kp, DevicePtr tokenCount)
    {
        var kernel = Kernel(c.DType);
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &pa, &psa, &pw, &psw, &pc, &rows, &n, &kp, &pn };
        var grid = new Dim3((uint)((n + TileN - 1) / TileN), (uint)((rows + TileM - 1) / TileM));
        kernel.Launch((CudaStream)stream, grid, new Dim3(256), 0, args);
    }
}
