using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>Managed GEMM: fp32 accumulation per output element, rounded once to the output type.</summary>
internal sealed unsafe class GemmReference : Gemm
{
    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows, Tensor? bias)
    {
        var dtype = a.DType;
        int k = (int)a.Dim(1), n = (int)w.Dim(0);
        ulong pa = a.Ptr.Address, pw = w.Ptr.Address, pc = c.Ptr.Address;
        ulong pb = bias?.Ptr.Address ?? 0;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            // Widen W once per launch so the inner loop is a float dot product.
            var wf = new float[(long)n * k];
            var wbits = new ReadOnlySpan<ushort>((void*)pw, n * k);
            for (int i = 0; i < wf.Length; i++) wf[i] = HalfBits.ToFloat(wbits[i], dtype);
            Parallel.For(0, rows, r =>
            {
                var arow = new ReadOnlySpan<ushort>((ushort*)pa + (long)r * k, k);
                var af = new float[k];
                for (int i = 0; i < k; i++) af[i] = HalfBits.ToFloat(arow[i], dtype);
                var crow = new Span<ushort>((ushort*)pc + (long)r * n, n);
                for (int j = 0; j < n; j++)
                {
                    float acc = VectorMath.Dot(af, new ReadOnlySpan<float>(wf, j * k, k));
                    if (pb != 0) acc += HalfBits.ToFloat(((ushort*)pb)[j], dtype);
                    crow[j] = HalfBits.FromFloat(acc, dtype);
                }
            });
        });
    }
}
