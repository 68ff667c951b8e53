using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>int8_act_group_gemm at the Linear's two tiles, per layout, format and grouping.</summary>
internal sealed unsafe class Int8ActGroupGemmCuda : Int8ActGroupGemm
{
    private readonly CudaDevice _device;
    private readonly Dictionary<(DType, Int8ActGemmVariant, TokenLayout, WeightOnlyFormat, bool), CudaKernel> _kernels = new();

    public Int8ActGroupGemmCuda(CudaDevice device) => _device = device;

    internal static string KernelName(string type, Int8ActGemmVariant variant, TokenLayout layout, WeightOnlyFormat format, bool grouped)
    {
        var t = Int8ActGemmCuda.TileOf(variant);
        return $"int8_act_group_gemm<{type}, {(format == WeightOnlyFormat.Int4 ? 1 : 0)}, {(grouped ? 1 : 0)}, {t.BM}, {t.BN}, {t.WM}, {t.WN}, {t.Stages}, {(layout == TokenLayout.PrefixSum ? 1 : 0)}>";
    }

    public override void Prepare(DType output, TokenLayout layout, WeightOnlyFormat format, bool grouped)
    {
        foreach (var v in Int8ActGemm.Variants) _ = Kernel(output, v, layout, format, grouped);
    }

    private CudaKernel Kernel(DType output, Int8ActGemmVariant variant, TokenLayout layout, WeightOnlyFormat format, bool grouped)
    {
        lock (_kernels)
        {
            var key = (output, variant, layout, format, grouped);
            if (!_kernels.TryGetValue(key, out var k))
            {
                k = _device.GetKernel("moe/int8_act_group_gemm.cu", KernelName(output.CudaTypeName(), variant, layout, format, grouped));
                k.EnsureDynamicSharedMemory(Int8ActGemmCuda.TileOf(variant).SharedBytes(format));
                _kernels[key] = k;
            }
            return k;
        }
    }

    protected override void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, int rows, Tensor a, Tensor aScales,
        Tensor offsets, Tensor w, Tensor wScales, Tensor c, int n, int np, int kp, WeightOnlyFormat format, bool grouped)
    {
        var variant = ChooseVariant(layout, experts, rowsBound);
        var tile = Int8ActGemmCuda.TileOf(variant);
        var kernel = Kernel(c.DType, variant, layout, format, grouped);
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, po = offsets.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address, pc = c.Ptr.Address;
        void** args = stackalloc void*[] { &pa, &psa, &po, &pw, &psw, &pc, &experts, &rowsBound, &rows, &n, &np, &kp };
        // Every expert's tiles, ceil(count / BM) each, fit in ceil(total / BM) + E for prefix sums, and in the total
        // itself (a tile holds at least one row: at one token and top-6, 6 tiles rather than 64, which took the w8a8
        // expert layer from 170 to 54 us on the H200 at 35f1d9d); E slabs otherwise. Blocks past the last real tile
        // exit, but each still costs a launch slot and an offsets walk.
        long perBound = (rowsBound + tile.BM - 1) / tile.BM;
        long tiles = layout == TokenLayout.PrefixSum ? Math.Min(Math.Min(perBound + experts, perBound * experts), Math.Max(1, rowsBound)) : perBound * experts;
        var grid = new Dim3((uint)(np / tile.BN), checked((uint)tiles));
        kernel.Launch((CudaStream)stream, grid, new Dim3((uint)tile.Threads), (uint)tile.SharedBytes(format), args);
    }
}
