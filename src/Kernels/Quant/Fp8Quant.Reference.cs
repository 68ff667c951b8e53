using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class Fp8QuantReference : Fp8Quant
{
    protected override void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales,
        Fp8ActScaling scaling, int rows, int k, int kp, DevicePtr tokenCount)
    {
        ulong px = x.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address, pn = tokenCount.Address;
        var dtype = x.DType;
        int groups = scaling == Fp8ActScaling.PerToken128 ? kp / Block : 1;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(pn, rows);
            Parallel.For(0, valid, r =>
            {
                var xr = ReferenceReads.HalfToFloats((ushort*)px + (long)r * k, k, dtype);
                HostQuantizeRow(xr, scaling, new Span<byte>((byte*)pq + (long)r * kp, kp),
                    new Span<float>((float*)ps + (long)r * groups, groups));
            });
        });
    }

    protected override void QuantizeWeightsCore(ComputeStream stream, Tensor w, Tensor q, Tensor scales, int n, int k, int np, int kp)
    {
        ulong pw = w.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address;
        var dtype = w.DType;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            var wf = new float[(long)n * k];
            var bits = new ReadOnlySpan<ushort>((void*)pw, wf.Length);
            for (int i = 0; i < wf.Length; i++) wf[i] = HalfBits.ToFloat(bits[i], dtype);
            HostQuantizeWeights(wf, n, k, new Span<byte>((void*)pq, np * kp), new Span<float>((void*)ps, np / Block * (kp / Block)));
        });
    }
}
