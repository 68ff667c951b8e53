using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>Managed int8 GEMM: exact int32 sums (|sum| ≤ k · 128², within int32 for k below 131072).</summary>
internal sealed unsafe class Int8GemmReference : Int8Gemm
{
    protected override void MatMulCore(ComputeStream stream, Tensor a, Tensor w, Tensor c, int rows)
    {
        int k = (int)a.Dim(1), n = (int)w.Dim(0);
        ulong pa = a.Ptr.Address, pw = w.Ptr.Address, pc = c.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() => Parallel.For(0, rows, r =>
        {
            var ar = new ReadOnlySpan<sbyte>((sbyte*)pa + (long)r * k, k);
            var cr = new Span<int>((int*)pc + (long)r * n, n);
            for (int j = 0; j < n; j++)
            {
                var wr = new ReadOnlySpan<sbyte>((sbyte*)pw + (long)j * k, k);
                int sum = 0;
                for (int i = 0; i < k; i++) sum += ar[i] * wr[i];
                cr[j] = sum;
            }
        }));
    }
}
