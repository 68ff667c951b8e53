using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Two kernels: an sm_90a wgmma one, the default on Hopper (2.2-2.9x the mma.sync kernel on an H200,
/// docs/quantization.md), and the mma.sync one for sm_89 or when GE_BLOCK_FP8_GEMM=mma forces it.
/// The choice is made once, at construction.
/// </summary>
internal sealed unsafe class BlockFp8GemmCuda : BlockFp8Gemm
{
    public const string VariantVariable = "GE_BLOCK_FP8_GEMM";
    private const int TileM = 64, TileN = 128, WgmmaStages = 4;
    private const int WgmmaSharedBytes = WgmmaStages * (64 * 128 + 128 * 128) + 1024;
    private readonly CudaDevice _device;
    private readonly bool _wgmma;
    private readonly Dictionary<DType, CudaKernel> _kernels = new();

    public BlockFp8GemmCuda(CudaDevice device)
    {
        _device = device;
        bool hopper = (device.Info.ComputeMajor, device.Info.ComputeMinor) == (9, 0);
        string variant = (Environment.GetEnvironmentVariable(VariantVariable) ?? "").Trim().ToLowerInvariant();
        _wgmma = variant switch
        {
            "" => hopper,
            "mma" => false,
            "wgmma" => true,
            _ => throw new ArgumentException($"{VariantVariable}='{variant}' is not a block_fp8 GEMM variant; accepted: mma, wgmma"),
        };
        if (_wgmma && (device.Info.ComputeMajor, device.Info.ComputeMinor) != (9, 0))
            throw new NotSupportedException($"{VariantVariable}=wgmma needs an sm_90a GPU (Hopper); {device.Info.Name} is {device.Info.Architecture}");
    }

    public override void Prepare(DType output) => _ = Kernel(output);

    private CudaKernel Kernel(DType output)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(output, out var k))
            {
                string name = _wgmma
                    ? $"block_fp8_gemm_wgmma<{output.CudaTypeName()}, {WgmmaStages}>"
                    : $"block_fp8_gemm<{output.CudaTypeName()}>";
                _kernels[output] = k = _device.GetKernel("gemm/block_fp8_gemm.cu", name);
                if (_wgmma) k.EnsureDynamicSharedMemory(WgmmaSharedBytes);
            }
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
        if (_wgmma) kernel.Launch((CudaStream)stream, grid, new Dim3(128), WgmmaSharedBytes, args);
        else kernel.Launch((CudaStream)stream, grid, new Dim3(256), 0, args);
    }
}
