using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

internal sealed unsafe class Int8ScaleEpilogueReference : Int8ScaleEpilogue
{
    protected override void ApplyCore(ComputeStream stream, Tensor c32, Tensor aScales, Tensor wScales, Tensor c, int rows, int n, int np, DevicePtr tokenCount)
    {
        ulong p32 = c32.Ptr.Address, psa = aScales.Ptr.Address, psw = wScales.Ptr.Address, pc = c.Ptr.Address, pn = tokenCount.Address;
        var dtype = c.DType;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(pn, rows);
            Parallel.For(0, valid, r =>
            {
                Span<int> sum = stackalloc int[1];
                Span<float> scale = stackalloc float[1];
                for (int j = 0; j < n; j++)
                {
                    sum[0] = ((int*)p32)[(long)r * np + j];
                    scale[0] = ((float*)psw)[j];
                    ((ushort*)pc)[(long)r * n + j] = HalfBits.FromFloat(Int8ActGemm.Epilogue(sum, scale, ((float*)psa)[r]), dtype);
                }
            });
        });
    }
}
