using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class Wi4A16GroupGemmCuda : Wi4A16GroupGemm
{
    private const string Source = "moe/wi4a16_group_gemm.cu";
    private const uint Threads = 128;

    private readonly CudaDevice _device;

    public Wi4A16GroupGemmCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name) => _device.GetKernel(Source, name);

    /// <summary>The instance for an M tile; the K tile follows from it and the format's group of 128.</summary>
    internal static string KernelName(string type, int tileM) =>
        $"wi4a16_group_gemm<{type}, {tileM}, {GroupGemmCuda.TileK(ExpertWeightFormat.Int4ZeroPointGroup, Quant.GroupSize.Of(GroupSize), tileM)}>";

    protected override void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights dst)
    {
        var kernel = Kernel($"wi4a16_quantize<{source.DType.CudaTypeName()}>");
        ulong pw = source.Ptr.Address, pq = dst.Weights.Ptr.Address, ps = dst.Scales.Ptr.Address, pz = dst.Zeros.Ptr.Address;
        long rows = source.Dim(0) * source.Dim(1);
        int k = (int)source.Dim(2), group = dst.GroupSize.Size;
        const uint warpsPerBlock = 8;
        long segments = rows * (k / group);
        void** args = stackalloc void*[] { &pw, &pq, &ps, &pz, &rows, &k, &group };
        kernel.Launch((CudaStream)stream, new Dim3((uint)((segments + warpsPerBlock - 1) / warpsPerBlock)), new Dim3(warpsPerBlock * 32), 0, args);
    }

    protected override void RunCore(ComputeStream stream, GroupGemmProblem p, ExpertWeights w, Wi4A16TilePlan plan, int tiles, int tileM)
    {
        if (tiles > 65535) throw new ArgumentException($"wi4a16 plan of {tiles} tiles exceeds the grid's 65535", nameof(plan));
        var kernel = Kernel(KernelName(p.A.DType.CudaTypeName(), tileM));
        ulong pa = p.A.Ptr.Address, pw = w.Weights.Ptr.Address, ps = w.Scales.Ptr.Address, pz = w.Zeros.Ptr.Address,
              pt = plan.DevicePtr.Address, pc = p.C.Ptr.Address;
        int n = p.N, k = p.K, group = w.GroupSize.Size, groups = w.Groups;
        void** args = stackalloc void*[] { &pa, &pw, &ps, &pz, &pt, &pc, &n, &k, &group, &groups };
        kernel.Launch((CudaStream)stream, new Dim3((uint)((n + GroupGemmCuda.TileN - 1) / GroupGemmCuda.TileN), (uint)tiles), new Dim3(Threads), 0, args);
    }
}
