using GraphEngine.Kernels.Fp8;
using GraphEngine.Kernels.GroupGemm;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Nvfp4;

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
                var wf = new float[(long)n * k];
                var bits = new ReadOnlySpan<ushort>((ushort*)pw + (long)x * n * k, wf.Length);
                for (int i = 0; i < wf.Length; i++) wf[i] = HalfBits.ToFloat(bits[i], dtype);
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
            int* off = (int*)po;
            for (int e = 0; e < experts; e++)
            {
                int start, end;
                if (layout == TokenLayout.PrefixSum)
                {
                    start = Math.Clamp(off[e], 0, rowsBound);
                    end = Math.Clamp(off[e + 1], start, rowsBound);
                }
                else
                {
                    start = e * rowsBound;
                    end = start + Math.Clamp(off[e], 0, rowsBound);
                }
                if (end <= start) continue;
                var wf = HostDequantize(new ReadOnlySpan<byte>((byte*)pq + (long)e * np * kp / 2, np * kp / 2),
                    new ReadOnlySpan<byte>((byte*)ps + (long)e * np * kp / BlockSize, np * kp / BlockSize), 1f, n, k);
                float gs = ((float*)pg)[e];
                Parallel.For(start, end, row =>
                {
                    var af = new float[k];
                    var bits = new ReadOnlySpan<ushort>((ushort*)pa + (long)row * k, k);
                    for (int x = 0; x < k; x++) af[x] = HalfBits.ToFloat(bits[x], dtype);
                    ushort* dst = (ushort*)pc + (long)row * n;
                    for (int j = 0; j < n; j++)
                        dst[j] = HalfBits.FromFloat(VectorMath.Dot(af, new ReadOnlySpan<float>(wf, j * k, k)) * gs, dtype);
                });
            }
        });
    }
}
