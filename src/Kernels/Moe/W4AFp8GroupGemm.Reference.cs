using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class W4AFp8GroupGemmReference : W4AFp8GroupGemm
{
    protected override void QuantizeCore(ComputeStream stream, Tensor w, Tensor q, Tensor scales, int e, int n, int k, int np, int kp, bool grouped)
    {
        ulong pw = w.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address;
        var dtype = w.DType;
        int groups = ScaleGroups(kp, grouped);
        ((ReferenceStream)stream).Enqueue(() =>
        {
            for (int x = 0; x < e; x++)
            {
                var wf = ReferenceReads.HalfToFloats((ushort*)pw + (long)x * n * k, (long)n * k, dtype);
                HostQuantize(wf, n, k, grouped, new Span<byte>((byte*)pq + (long)x * np * kp / 2, np * kp / 2),
                    new Span<float>((float*)ps + (long)x * groups * np, groups * np));
            }
        });
    }

    /// <summary>Mirrors the kernel: per 128-wide K block a float partial of exact products, scaled per
    /// group (grouped) or once at the end (per channel), times the token's scale.</summary>
    protected override void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, Tensor a, Tensor aScales,
        Tensor offsets, Tensor q, Tensor scales, bool grouped, Tensor c, int n, int np, int kp)
    {
        ulong pa = a.Ptr.Address, psa = aScales.Ptr.Address, po = offsets.Ptr.Address, pq = q.Ptr.Address;
        ulong ps = scales.Ptr.Address, pc = c.Ptr.Address;
        var dtype = c.DType;
        int groups = ScaleGroups(kp, grouped), kb = kp / GroupSize;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            for (int e = 0; e < experts; e++)
            {
                var (start, end) = ReferenceReads.ExpertRows(layout, (int*)po, e, rowsBound);
                if (end <= start) continue;
                var eq = new ReadOnlySpan<byte>((byte*)pq + (long)e * np * kp / 2, np * kp / 2);
                var wf = new float[(long)n * kp];
                for (int r = 0; r < n; r++)
                {
                    var row = wf.AsSpan((int)((long)r * kp), kp);
                    RowValues(eq, kp, r, row);
                    for (int x = 0; x < kp; x++) row[x] /= NibbleFactor;
                }
                float* es = (float*)ps + (long)e * groups * np;
                Parallel.For(start, end, row =>
                {
                    var af = new float[kp];
                    for (int x = 0; x < kp; x++) af[x] = Fp8Quant.Decode(((byte*)pa)[(long)row * kp + x]);
                    float sa = ((float*)psa)[row];
                    ushort* dst = (ushort*)pc + (long)row * n;
                    for (int j = 0; j < n; j++)
                    {
                        float acc = 0, total = 0;
                        for (int b = 0; b < kb; b++)
                        {
                            float part = VectorMath.Dot(new ReadOnlySpan<float>(af, b * GroupSize, GroupSize),
                                new ReadOnlySpan<float>(wf, j * kp + b * GroupSize, GroupSize));
                            if (grouped) acc += part * es[b * np + j];
                            else total += part;
                        }
                        float v = grouped ? acc * sa : total * (es[j] * sa);
                        dst[j] = HalfBits.FromFloat(v, dtype);
                    }
                });
            }
        });
    }
}
