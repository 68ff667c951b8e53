using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

/// <summary>The Linear's host definition (<see cref="Int8ActGemmReference.Row"/>) over each expert's real rows.</summary>
internal sealed unsafe class Int8ActGroupGemmReference : Int8ActGroupGemm
{
    protected override void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, int rows, Tensor a, Tensor aScales,
        Tensor offsets, Tensor w, Tensor wScales, Tensor c, int n, int np, int kp, WeightOnlyFormat format, bool grouped)
    {
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, po = offsets.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address, pc = c.Ptr.Address;
        var dtype = c.DType;
        int groups = grouped ? kp / Int8ActPacking.Block : 1;
        long expertBytes = (long)np * Int8ActPacking.RowBytes(format, kp);
        ((ReferenceStream)stream).Enqueue(() =>
        {
            for (int e = 0; e < experts; e++)
            {
                var (start, end) = ReferenceReads.ExpertRows(layout, (int*)po, e, rowsBound);
                if (end <= start) continue;
                var wq = Int8ActGemmReference.Codes(format, (byte*)pw + e * expertBytes, n, np, kp);
                var ws = new ReadOnlySpan<float>((float*)psw + (long)e * groups * np, groups * np).ToArray();
                Parallel.For(start, end, r => Int8ActGemmReference.Row((sbyte*)pa, (float*)psa, r, wq, ws, n, np, kp, groups, (ushort*)pc, dtype));
            }
        });
    }
}
