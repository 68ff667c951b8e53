using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>int8_act_group_gemm at the Linear's two tiles and int8_act_group_stream at its two streaming tiles, per layout, format and grouping.</summary>
internal sealed unsafe class Int8ActGroupGemmCuda : Int8ActGroupGemm
{
    private readonly CudaDevice _device;
    private readonly Dictionary<(DType, Int8ActGemmVariant, TokenLayout, WeightOnlyFormat, bool), CudaKernel> _kernels = new();

    public Int8ActGroupGemmCuda(CudaDevice device) => _device = device;

    internal static string KernelName(string type, Int8ActGemmVariant variant, TokenLayout layout, WeightOnlyFormat format, bool grouped)
    {
        if (Int8ActGemmCuda.IsStream(variant))
            return $"int8_act_group_stream<{type}, {(format == WeightOnlyFormat.Int4 ? 1 : 0)}, {(grouped ? 1 : 0)}, {Int8ActGemmCuda.StreamTokens(variant)}, {Int8ActGemmCuda.StreamUnroll(variant, format)}, {(layout == TokenLayout.PrefixSum ? 1 : 0)}>";
        var t = Int8ActGemmCuda.TileOf(variant);
        return $"int8_act_group_gemm<{type}, {(format == WeightOnlyFormat.Int4 ? 1 : 0)}, {(grouped ? 1 : 0)}, {t.BM}, {t.BN}, {t.WM}, {t.WN}, {t.Stages}, {(layout == TokenLayout.PrefixSum ? 1 : 0)}>";
    }

    public override void Prepare(DType output, TokenLayout layout, WeightOnlyFormat format, bool grouped)
    {
        foreach (var v in Variants) _ = Kernel(output, v, layout, format, grouped);
    }

    private CudaKernel Kernel(DType output, Int8ActGemmVariant variant, TokenLayout layout, WeightOnlyFormat format, bool grouped)
    {
        lock (_kernels)
        {
            var key = (output, variant, layout, format, grouped);
            if (!_kernels.TryGetValue(key, out var k))
            {
                k = _device.GetKernel("moe/int8_act_group_gemm.cu", KernelName(output.CudaTypeName(), variant, layout, format, grouped));
                int shared = Int8ActGemmCuda.IsStream(variant) ? (grouped ? Int8ActGemmCuda.StreamMaxSharedBytes : 0) : Int8ActGemmCuda.TileOf(variant).SharedBytes(format);
                if (shared > 0) k.EnsureDynamicSharedMemory(shared);
                _kernels[key] = k;
            }
            return k;
        }
    }

    protected override void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, int rows, Tensor a, Tensor aScales,
        Tensor offsets, Tensor w, Tensor wScales, Tensor c, int n, int np, int kp, WeightOnlyFormat format, bool grouped)
    {
        var variant = ChooseVariant(layout, experts, rowsBound);
        // A grouped K past the streaming tile's shared sums takes the small tile (the Linear's rule does the same).
        if (Int8ActGemmCuda.IsStream(variant) && Int8ActGemmCuda.StreamSharedBytes(grouped, kp) > Int8ActGemmCuda.StreamMaxSharedBytes)
            variant = Int8ActGemmVariant.Small;
        var kernel = Kernel(c.DType, variant, layout, format, grouped);
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, po = offsets.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address, pc = c.Ptr.Address;
        void** args = stackalloc void*[] { &pa, &psa, &po, &pw, &psw, &pc, &experts, &rowsBound, &rows, &n, &np, &kp };
        bool streaming = Int8ActGemmCuda.IsStream(variant);
        var tile = streaming ? default : Int8ActGemmCuda.TileOf(variant);
        int bm = streaming ? Int8ActGemmCuda.StreamTokens(variant) : tile.BM;
        // Every expert's tiles, ceil(count / BM) each, fit in ceil(total / BM) + E for prefix sums, and in the total
        // itself (a tile holds at least one row: at one token and top-6, 6 tiles rather than 65); E slabs otherwise.
        // Blocks past the last real tile exit, but each still costs a launch slot and an offsets walk.
        long perBound = (rowsBound + bm - 1) / bm;
        long tiles = layout == TokenLayout.PrefixSum ? Math.Min(Math.Min(perBound + experts, perBound * experts), Math.Max(1, rowsBound)) : perBound * experts;
        if (streaming)
            kernel.Launch((CudaStream)stream, new Dim3((uint)(np / Int8ActGemmCuda.StreamCols), checked((uint)tiles)), new Dim3(Int8ActGemmCuda.StreamThreads),
                (uint)Int8ActGemmCuda.StreamSharedBytes(grouped, kp), args, dependent: true);
        else
            kernel.Launch((CudaStream)stream, new Dim3((uint)(np / tile.BN), checked((uint)tiles)), new Dim3((uint)tile.Threads), (uint)tile.SharedBytes(format), args);
    }
}
