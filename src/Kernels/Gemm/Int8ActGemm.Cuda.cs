using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Gemm;

/// <summary>The int8_act_gemm template at the two tiles of <see cref="Int8ActGemmVariant"/>; each call runs the one the rule picks or the one fixed at construction.</summary>
internal sealed unsafe class Int8ActGemmCuda : Int8ActGemm
{
    internal readonly record struct Tile(int BM, int BN, int WM, int WN, int Stages)
    {
        public int Threads => WM * WN * 32;
        public int SharedBytes(WeightOnlyFormat f) => Stages * (BM * 128 + BN * (f == WeightOnlyFormat.Int4 ? 64 : 128));
    }

    internal static Tile TileOf(Int8ActGemmVariant v) => v == Int8ActGemmVariant.Small ? new Tile(16, 32, 1, 4, 8) : new Tile(64, 128, 2, 4, 3);

    private readonly CudaDevice _device;
    private readonly Int8ActGemmVariant? _fixed;
    private readonly Dictionary<(DType, Int8ActGemmVariant, WeightOnlyFormat, bool), CudaKernel> _kernels = new();

    public Int8ActGemmCuda(CudaDevice device, Int8ActGemmVariant? variant)
    {
        _device = device;
        _fixed = variant;
    }

    internal static string KernelName(string type, Int8ActGemmVariant variant, WeightOnlyFormat format, bool grouped)
    {
        var t = TileOf(variant);
        return $"int8_act_gemm<{type}, {(format == WeightOnlyFormat.Int4 ? 1 : 0)}, {(grouped ? 1 : 0)}, {t.BM}, {t.BN}, {t.WM}, {t.WN}, {t.Stages}>";
    }

    public override void Prepare(DType output, WeightOnlyFormat format, bool grouped)
    {
        foreach (var v in _fixed is { } f ? new[] { f } : Variants) _ = Kernel(output, v, format, grouped);
    }

    private CudaKernel Kernel(DType output, Int8ActGemmVariant variant, WeightOnlyFormat format, bool grouped)
    {
        lock (_kernels)
        {
            var key = (output, variant, format, grouped);
            if (!_kernels.TryGetValue(key, out var k))
            {
                k = _device.GetKernel("gemm/int8_act_gemm.cu", KernelName(output.CudaTypeName(), variant, format, grouped));
                k.EnsureDynamicSharedMemory(TileOf(variant).SharedBytes(format));
                _kernels[key] = k;
            }
            return k;
        }
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int np, int kp, WeightOnlyFormat format, bool grouped, DevicePtr tokenCount)
    {
        var variant = _fixed ?? ChooseVariant(rows);
        var tile = TileOf(variant);
        var kernel = Kernel(c.DType, variant, format, grouped);
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        void** args = stackalloc void*[] { &pa, &psa, &pw, &psw, &pc, &rows, &n, &np, &kp, &pn };
        var grid = new Dim3((uint)(np / tile.BN), (uint)((rows + tile.BM - 1) / tile.BM));
        kernel.Launch((CudaStream)stream, grid, new Dim3((uint)tile.Threads), (uint)tile.SharedBytes(format), args);
    }
}
