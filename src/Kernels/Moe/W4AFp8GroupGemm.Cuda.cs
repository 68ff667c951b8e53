using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class W4AFp8GroupGemmCuda : W4AFp8GroupGemm
{
    private const int TileM = 64, TileN = 128;
    private readonly CudaDevice _device;

    public W4AFp8GroupGemmCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name) => _device.GetKernel("moe/w4afp8_group_gemm.cu", name);

    private static string GemmName(DType output, TokenLayout layout, bool grouped) => KernelName(output.CudaTypeName(), layout, grouped);

    internal static string KernelName(string type, TokenLayout layout, bool grouped) =>
        $"w4afp8_group_gemm<{type}, {(layout == TokenLayout.PrefixSum ? 1 : 0)}, {(grouped ? 1 : 0)}>";

    public override void Prepare(DType output, TokenLayout layout, bool grouped) => _ = Kernel(GemmName(output, layout, grouped));

    protected override void QuantizeCore(ComputeStream stream, Tensor w, Tensor q, Tensor scales, int e, int n, int k, int np, int kp, bool grouped)
    {
        var kernel = Kernel($"w4afp8_quantize<{w.DType.CudaTypeName()}>");
        ulong pw = w.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address;
        int g = grouped ? 1 : 0;
        void** args = stackalloc void*[] { &pw, &pq, &ps, &n, &k, &np, &kp, &g };
        kernel.Launch((CudaStream)stream, new Dim3((uint)np, (uint)e), new Dim3(128), 0, args);
    }

    protected override void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, Tensor a, Tensor aScales,
        Tensor offsets, Tensor q, Tensor scales, bool grouped, Tensor c, int n, int np, int kp)
    {
        var kernel = Kernel(GemmName(c.DType, layout, grouped));
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, po = offsets.Ptr.Address, pq = q.Ptr.Address;
        ulong ps = scales.Ptr.Address, pc = c.Ptr.Address;
        void** args = stackalloc void*[] { &pa, &psa, &po, &pq, &ps, &pc, &experts, &rowsBound, &n, &np, &kp };
        // Upper bound on M tiles: sum over experts of ceil(count / 64) <= ceil(total / 64) + E (prefix sums),
        // E * ceil(P / 64) (padded slabs). Blocks past the real tiles exit at once.
        long mTiles = layout == TokenLayout.PrefixSum
            ? (rowsBound + TileM - 1) / TileM + experts
            : (long)experts * ((rowsBound + TileM - 1) / TileM);
        var grid = new Dim3((uint)((n + TileN - 1) / TileN), checked((uint)mTiles));
        kernel.Launch((CudaStream)stream, grid, new Dim3(256), 0, args);
    }
}
