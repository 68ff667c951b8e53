using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.GroupGemm;

internal sealed unsafe class GroupGemmCuda : GroupGemm
{
    internal const string Source = "group_gemm.cu";
    internal const int TileN = 64;
    private const uint Threads = 128;

    /// <summary>Per-channel formats fold their scale once, at the end of K: a group larger than any K.</summary>
    internal const int PerChannelGroup = 1 << 30;

    private readonly CudaDevice _device;
    private readonly Dictionary<string, CudaKernel> _kernels = new();

    public GroupGemmCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name)
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(name, out var k)) _kernels[name] = k = _device.GetKernel(Source, name);
            return k;
        }
    }

    internal static int WeightMode(ExpertWeightFormat f) => f switch
    {
        ExpertWeightFormat.Half => 0,
        ExpertWeightFormat.Int8PerChannel => 1,
        ExpertWeightFormat.Int4PerChannel or ExpertWeightFormat.Int4Group => 2,
        _ => 3,
    };

    /// <summary>
    /// M tile: 16 rows when experts see few rows (memory-bound: each hit expert's weights stream once),
    /// 64 when they see many (the weight tile is reused across 64 rows).
    /// </summary>
    internal static int TileM(GroupGemmProblem p)
    {
        long rowsPerExpert = p.Layout == TokenLayout.PrefixSum ? p.RowsBound / Math.Max(1, p.Experts) : p.RowsBound / 8;
        return rowsPerExpert >= 48 ? 64 : 16;
    }

    /// <summary>
    /// K tile: 128 at BM = 16 (the memory-bound case: twice the weight bytes in flight per block, which
    /// the few blocks of a small n need to approach full bandwidth), 64 at BM = 64 (registers go to the
    /// larger accumulator tile). A K tile must not span two scale groups, so grouped weights use 128 only
    /// when it divides the group size.
    /// </summary>
    internal static int TileK(ExpertWeightFormat f, int groupSize, int tileM)
    {
        bool grouped = f is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup;
        return tileM == 16 && (!grouped || groupSize % 128 == 0) ? 128 : 64;
    }

    /// <summary>Upper bound on the M tiles of all experts together, from host bounds only.</summary>
    internal static long TileBound(GroupGemmProblem p, int tileM)
    {
        long perExpert = (p.RowsBound + tileM - 1) / tileM;
        return p.Layout == TokenLayout.PrefixSum
            ? Math.Min(perExpert + p.Experts, perExpert * p.Experts)
            : perExpert * p.Experts;
    }

    protected override void RunCore(ComputeStream stream, GroupGemmProblem p, ExpertWeights w)
    {
        int bm = TileM(p);
        long tiles = TileBound(p, bm);
        if (tiles > 65535)
            throw new ArgumentException($"group GEMM needs {tiles} M tiles (rows bound {p.RowsBound}, {p.Experts} experts), above the grid's 65535", nameof(p));
        int bk = TileK(w.Format, w.GroupSize, bm);
        var kernel = Kernel($"group_gemm<{p.A.DType.CudaTypeName()}, {WeightMode(w.Format)}, {bm}, {bk}>");
        ulong pa = p.A.Ptr.Address, pw = w.Weights.Ptr.Address, ps = w.Scales.IsEmpty ? 0 : w.Scales.Ptr.Address,
              po = p.Offsets.Ptr.Address, pc = p.C.Ptr.Address;
        int experts = p.Experts, n = p.N, k = p.K;
        int group = w.IsGrouped ? w.GroupSize : PerChannelGroup, groups = w.Groups;
        int padded = p.Layout == TokenLayout.Padded ? p.RowsBound : 0;
        void** args = stackalloc void*[] { &pa, &pw, &ps, &po, &pc, &experts, &n, &k, &group, &groups, &padded };
        kernel.Launch((CudaStream)stream, new Dim3((uint)((n + TileN - 1) / TileN), (uint)tiles), new Dim3(Threads), 0, args);
    }

    protected override void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights dst)
    {
        var kernel = Kernel($"quantize_experts<{source.DType.CudaTypeName()}>");
        long rows = source.Dim(0) * source.Dim(1);
        int k = (int)source.Dim(2);
        int group = dst.IsGrouped ? dst.GroupSize : k, groups = dst.Groups;
        int qmax = ExpertWeightMath.QMax(dst.Format), int8 = dst.Format == ExpertWeightFormat.Int8PerChannel ? 1 : 0, zero = 0;
        ulong pw = source.Ptr.Address, pq = dst.Weights.Ptr.Address, ps = dst.Scales.Ptr.Address, pz = 0;
        LaunchQuantize(kernel, (CudaStream)stream, pw, pq, ps, pz, rows, k, group, groups, qmax, int8, zero);
    }

    internal static void LaunchQuantize(CudaKernel kernel, CudaStream stream, ulong pw, ulong pq, ulong ps, ulong pz,
                                        long rows, int k, int group, int groups, int qmax, int int8, int zero)
    {
        const uint warpsPerBlock = 8;
        long segments = rows * groups;
        uint blocks = (uint)((segments + warpsPerBlock - 1) / warpsPerBlock);
        void** args = stackalloc void*[] { &pw, &pq, &ps, &pz, &rows, &k, &group, &groups, &qmax, &int8, &zero };
        kernel.Launch(stream, new Dim3(blocks), new Dim3(warpsPerBlock * 32), 0, args);
    }
}
