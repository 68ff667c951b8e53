using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class Nvfp4GroupGemmReference : Nvfp4GroupGemm
{
    protected override void QuantizeCore(ComputeStream stream, Tensor w, Tensor q, Tensor blockScales, Tensor globalScale, Tensor amax,
        int e, int n, int k, int np, int kp)
    {
        ulong pw = w.Ptr.Address, pq = q.Ptr.Address, ps = blockScales.Ptr.Address, pg = globalScale.Ptr.Address;
        var dtype = w.DType;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            for (int x = 0; x < e; x++)
            {
                var wf = ReferenceReads.HalfToFloats((ushort*)pw + (long)x * n * k, (long)n * k, dtype);
                ((float*)pg)[x] = HostQuantize(wf, n, k,
                    new Span<byte>((byte*)pq + (long)x * np * kp / 2, np * kp / 2),
                    new Span<byte>((byte*)ps + (long)x * np * kp / BlockSize, np * kp / BlockSize));
            }
        });
    }

    /// <summary>Mirrors the kernel: float dot of activations with q · block scale, times the global scale once.</summary>
    protected override void RunCore(ComputeStream stream, GroupGemmProblem p, Tensor q, Tensor blockScales, Tensor globalScale, int np, int kp)
    {
        ulong pa = p.A.Ptr.Address, po = p.Offsets.Ptr.Address, pq = q.Ptr.Address, ps = blockScales.Ptr.Address;
        ulong pg = globalScale.Ptr.Address, pc = p.C.Ptr.Address;
        var dtype = p.A.DType;
        var layout = p.Layout;
        int experts = p.Experts, rowsBound = p.RowsBound, n = p.N, k = p.K;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            for (int e = 0; e < experts; e++)
            {
                var (start, end) = ReferenceReads.ExpertRows(layout, (int*)po, e, rowsBound);
                if (end <= start) continue;
                var wf = HostDequantize(new ReadOnlySpan<byte>((byte*)pq + (long)e * np * kp / 2, np * kp / 2),
                    new ReadOnlySpan<byte>((byte*)ps + (long)e * np * kp / BlockSize, np * kp / BlockSize), 1f, n, k);
                float gs = ((float*)pg)[e];
                Parallel.For(start, end, row =>
                {
                    var af = ReferenceReads.HalfToFloats((ushort*)pa + (long)row * k, k, dtype);
                    ushort* dst = (ushort*)pc + (long)row * n;
                    for (int j = 0; j < n; j++)
                        dst[j] = HalfBits.FromFloat(VectorMath.Dot(af, new ReadOnlySpan<float>(wf, j * k, k)) * gs, dtype);
                });
            }
        });
    }
}
