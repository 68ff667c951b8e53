using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>The same scheme as the kernel: a float partial per 128-wide K block, scaled once, summed in float.</summary>
internal sealed unsafe class BlockFp8GemmReference : BlockFp8Gemm
{
    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int kp, DevicePtr tokenCount)
    {
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, pw = w.Ptr.Address, psw = wScales.Ptr.Address;
        ulong pc = c.Ptr.Address, pn = tokenCount.Address;
        var dtype = c.DType;
        int kb = kp / Fp8Quant.Block;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(pn, rows);
            if (valid == 0) return;
            var wf = Decode((byte*)pw, (long)n * kp);
            Parallel.For(0, valid, r =>
            {
                var af = Decode((byte*)pa + (long)r * kp, kp);
                float* sa = (float*)psa + (long)r * kb;
                ushort* dst = (ushort*)pc + (long)r * n;
                for (int j = 0; j < n; j++)
                {
                    float acc = 0;
                    for (int b = 0; b < kb; b++)
                    {
                        float part = VectorMath.Dot(new ReadOnlySpan<float>(af, b * Fp8Quant.Block, Fp8Quant.Block),
                            new ReadOnlySpan<float>(wf, j * kp + b * Fp8Quant.Block, Fp8Quant.Block));
                        acc += part * (sa[b] * ((float*)psw)[j / Fp8Quant.Block * kb + b]);
                    }
                    dst[j] = HalfBits.FromFloat(acc, dtype);
                }
            });
        });
    }

    private static float[] Decode(byte* p, long count)
    {
        var f = new float[count];
        for (long i = 0; i < count; i++) f[i] = Fp8Quant.Decode(p[i]);
        return f;
    }
}
