using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Two kernels (<see cref="BlockFp8GemmVariant"/>): the sm_90a wgmma one and the mma.sync one. Each call
/// runs the variant <see cref="BlockFp8Gemm.ChooseVariant"/> picks for this GPU and shape, or the one
/// fixed at construction.
/// </summary>
internal sealed unsafe class BlockFp8GemmCuda : BlockFp8Gemm
{
    private const int TileM = 64, TileN = 128, WgmmaStages = 4;
    private const int WgmmaSharedBytes = WgmmaStages * (64 * 128 + 128 * 128) + 1024;
    private readonly CudaDevice _device;
    private readonly BlockFp8GemmVariant? _fixed;
    private readonly Dictionary<(DType, BlockFp8GemmVariant), CudaKernel> _kernels = new();

    public BlockFp8GemmCuda(CudaDevice device, BlockFp8GemmVariant? variant)
    {
        _device = device;
        var info = device.Info;
        if (variant is { } v && !SupportedVariants(info.ComputeMajor, info.ComputeMinor).Contains(v))
            throw new NotSupportedException($"the {v} block_fp8 GEMM cannot run on {info.Name} ({info.Architecture}); " +
                $"supported there: {string.Join(", ", SupportedVariants(info.ComputeMajor, info.ComputeMinor))}");
        _fixed = variant;
    }

    /// <summary>Compiles every kernel a call can run for <paramref name="output"/>: the fixed variant, or each
    /// one the rule can pick on this GPU (one today), so nothing compiles inside a capture.</summary>
    public override void Prepare(DType output)
    {
        var info = _device.Info;
        var variants = _fixed is { } v ? new[] { v } : ChoosableVariants(info.ComputeMajor, info.ComputeMinor);
        if (variants.Count == 0) _ = ChooseVariant(info.ComputeMajor, info.ComputeMinor, 0, 1, 1);   // throws: no fp8 MMA here
        foreach (var variant in variants) _ = Kernel(output, variant);
    }

    internal static string KernelName(string type, BlockFp8GemmVariant variant) =>
        variant == BlockFp8GemmVariant.Wgmma ? $"block_fp8_gemm_wgmma<{type}, {WgmmaStages}>" : $"block_fp8_gemm<{type}>";

    private CudaKernel Kernel(DType output, BlockFp8GemmVariant variant)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue((output, variant), out var k))
            {
                k = _device.GetKernel("gemm/block_fp8_gemm.cu", KernelName(output.CudaTypeName(), variant));
                if (variant == BlockFp8GemmVariant.Wgmma) k.EnsureDynamicSharedMemory(WgmmaSharedBytes);
                _kernels[(output, variant)] = k;
            }
            return k;
        }
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int kp, DevicePtr tokenCount)
    {
        var info = _device.Info;
        var variant = _fixed ?? ChooseVariant(info.ComputeMajor, info.ComputeMinor, rows, n, kp);
        var kernel = Kernel(c.DType, variant);
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &pa, &psa, &pw, &psw, &pc, &rows, &n, &kp, &pn };
        var grid = new Dim3((uint)((n + TileN - 1) / TileN), (uint)((rows + TileM - 1) / TileM));
        if (variant == BlockFp8GemmVariant.Wgmma) kernel.Launch((CudaStream)stream, grid, new Dim3(128), WgmmaSharedBytes, args);
        else kernel.Launch((CudaStream)stream, grid, new Dim3(256), 0, args);
    }
}
