using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>The kernel's definition on the host: exact int32 sums per scale group, then <see cref="Int8ActGemm.Epilogue"/>.</summary>
internal sealed unsafe class Int8ActGemmReference : Int8ActGemm
{
    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int np, int kp, WeightOnlyFormat format, bool grouped, DevicePtr tokenCount)
    {
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        var dtype = c.DType;
        int groups = grouped ? kp / Int8ActPacking.Block : 1;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(pn, rows);
            if (valid == 0) return;
            var wq = Codes(format, (byte*)pw, n, np, kp);
            var ws = new ReadOnlySpan<float>((float*)psw, groups * np).ToArray();
            Parallel.For(0, valid, r => Row((sbyte*)pa, (float*)psa, r, wq, ws, n, np, kp, groups, (ushort*)pc, dtype));
        });
    }

    /// <summary>Every weight code of one stored matrix ([Np, RowBytes]) as [n, kp] sbytes, decoded once.</summary>
    internal static sbyte[] Codes(WeightOnlyFormat format, byte* packed, int n, int np, int kp)
    {
        var bytes = new ReadOnlySpan<byte>(packed, np * Int8ActPacking.RowBytes(format, kp)).ToArray();
        var wq = new sbyte[(long)n * kp];
        Parallel.For(0, n, j =>
        {
            for (int col = 0; col < kp; col++) wq[(long)j * kp + col] = (sbyte)Int8ActPacking.CodeAt(format, bytes, kp, j, col);
        });
        return wq;
    }

    /// <summary>Output row <paramref name="r"/> of C [*, n] from A [*, kp], its scale, codes [n, kp] and scales [groups, np].</summary>
    internal static void Row(sbyte* a, float* aScales, int r, sbyte[] wq, float[] ws, int n, int np, int kp, int groups, ushort* c, DType dtype)
    {
        var ar = new ReadOnlySpan<sbyte>(a + (long)r * kp, kp);
        float aScale = aScales[r];
        ushort* dst = c + (long)r * n;
        int width = kp / groups;
        Span<int> parts = stackalloc int[groups];
        Span<float> scales = stackalloc float[groups];
        for (int j = 0; j < n; j++)
        {
            var wr = new ReadOnlySpan<sbyte>(wq, j * kp, kp);
            for (int g = 0; g < groups; g++)
            {
                int sum = 0;
                for (int i = g * width; i < (g + 1) * width; i++) sum += ar[i] * wr[i];
                parts[g] = sum;
                scales[g] = ws[g * np + j];
            }
            dst[j] = HalfBits.FromFloat(Epilogue(parts, scales, aScale), dtype);
        }
    }
}
