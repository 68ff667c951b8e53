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
        int groups = grouped ? kp / Int8ActPacking.Block : 1, width = kp / groups, rowBytes = Int8ActPacking.RowBytes(format, kp);
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = pn == 0 ? rows : Math.Clamp(*(int*)pn, 0, rows);
            if (valid == 0) return;
            // Decode every weight code once: [n, kp] as int.
            var wq = new sbyte[(long)n * kp];
            var packed = new ReadOnlySpan<byte>((byte*)pw, np * rowBytes).ToArray();
            Parallel.For(0, n, j =>
            {
                for (int col = 0; col < kp; col++) wq[(long)j * kp + col] = (sbyte)Int8ActPacking.CodeAt(format, packed, kp, j, col);
            });
            var ws = new ReadOnlySpan<float>((float*)psw, groups * np).ToArray();
            Parallel.For(0, valid, r =>
            {
                var ar = new ReadOnlySpan<sbyte>((sbyte*)pa + (long)r * kp, kp);
                float aScale = ((float*)psa)[r];
                ushort* dst = (ushort*)pc + (long)r * n;
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
            });
        });
    }
}
