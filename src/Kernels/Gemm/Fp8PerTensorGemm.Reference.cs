using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>Managed fp8 GEMM: exact e4m3 decode, fp32 accumulation, scales applied once, rounded to bf16.</summary>
internal sealed unsafe class Fp8PerTensorGemmReference : Fp8PerTensorGemm
{
    private static readonly float[] s_decode = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[256];
        for (int i = 0; i < 256; i++) t[i] = DecodeE4M3((byte)i);
        return t;
    }

    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor aScale, Tensor w, Tensor wScale, Tensor c, int rows)
    {
        int k = (int)a.Dim(1), n = (int)w.Dim(0);
        ulong pa = a.Ptr.Address, pw = w.Ptr.Address, pc = c.Ptr.Address, psa = aScale.Ptr.Address, psw = wScale.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            // Scales are read when the work runs, as the device reads its scale pointers.
            float scale = *(float*)psa * *(float*)psw;
            var wf = new float[(long)n * k];
            var wb = new ReadOnlySpan<byte>((void*)pw, n * k);
            for (int i = 0; i < wf.Length; i++) wf[i] = s_decode[wb[i]];
            Parallel.For(0, rows, r =>
            {
                var ab = new ReadOnlySpan<byte>((byte*)pa + (long)r * k, k);
                var af = new float[k];
                for (int i = 0; i < k; i++) af[i] = s_decode[ab[i]];
                var crow = new Span<ushort>((ushort*)pc + (long)r * n, n);
                for (int j = 0; j < n; j++)
                    crow[j] = Bf16.FromFloat(scale * VectorMath.Dot(af, new ReadOnlySpan<float>(wf, j * k, k)));
            });
        });
    }
}
