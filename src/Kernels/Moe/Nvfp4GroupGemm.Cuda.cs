using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class Nvfp4GroupGemmCuda : Nvfp4GroupGemm
{
    private const int TileM = 64, TileN = 128;
    private readonly CudaDevice _device;

    public Nvfp4GroupGemmCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name) => _device.GetKernel("moe/nvfp4_group_gemm.cu", name);

    private static string GemmName(DType t, TokenLayout layout) => KernelName(t.CudaTypeName(), layout);

    internal static string KernelName(string type, TokenLayout layout) => $"nvfp4_group_gemm<{type}, {(layout == TokenLayout.PrefixSum ? 1 : 0)}>";

    public override void Prepare(DType activation, TokenLayout layout) => _ = Kernel(GemmName(activation, layout));

    protected override void QuantizeCore(ComputeStream stream, Tensor w, Tensor q, Tensor blockScales, Tensor globalScale, Tensor amax,
        int e, int n, int k, int np, int kp)
    {
        var cs = (CudaStream)stream;
        stream.Fill32Async(amax.Ptr, 0, e);
        var amaxKernel = Kernel($"nvfp4_amax<{w.DType.CudaTypeName()}>");
        ulong pw = w.Ptr.Address, pa = amax.Ptr.Address;
        long perExpert = (long)n * k;
        void** a1 = stackalloc void*[] { &pw, &pa, &perExpert };
        uint blocks = (uint)Math.Clamp((perExpert + 255) / 256, 1, _device.Info.SmCount * 4L);
        amaxKernel.Launch(cs, new Dim3(blocks, (uint)e), new Dim3(256), 0, a1);

        var quant = Kernel($"nvfp4_quantize<{w.DType.CudaTypeName()}>");
        ulong pq = q.Ptr.Address, ps = blockScales.Ptr.Address, pg = globalScale.Ptr.Address;
        void** a2 = stackalloc void*[] { &pw, &pa, &pq, &ps, &pg, &n, &k, &np, &kp };
        long threads = (long)np * (kp / BlockSize);
        quant.Launch(cs, new Dim3((uint)((threads + 255) / 256), (uint)e), new Dim3(256), 0, a2);
    }

    protected override void RunCore(ComputeStream stream, GroupGemmProblem p, Tensor q, Tensor blockScales, Tensor globalScale, int np, int kp)
    {
        var kernel = Kernel(GemmName(p.A.DType, p.Layout));
        ulong pa = p.A.Ptr.Address, po = p.Offsets.Ptr.Address, pq = q.Ptr.Address, ps = blockScales.Ptr.Address;
        ulong pg = globalScale.Ptr.Address, pc = p.C.Ptr.Address;
        int experts = p.Experts, rowsBound = p.RowsBound, n = p.N, k = p.K;
        void** args = stackalloc void*[] { &pa, &po, &pq, &ps, &pg, &pc, &experts, &rowsBound, &n, &k, &np, &kp };
        long mTiles = p.Layout == TokenLayout.PrefixSum
            ? (rowsBound + TileM - 1) / TileM + experts
            : (long)experts * ((rowsBound + TileM - 1) / TileM);
        kernel.Launch((CudaStream)stream, new Dim3((uint)((n + TileN - 1) / TileN), checked((uint)mTiles)), new Dim3(256), 0, args);
    }
}
