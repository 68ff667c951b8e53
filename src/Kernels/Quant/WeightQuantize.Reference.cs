using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class WeightQuantizeReference : WeightQuantize
{
    protected override void QuantizeCore(ComputeStream stream, Tensor weights, WeightOnlyScheme scheme, Tensor q, Tensor scales)
    {
        int n = (int)weights.Dim(0), k = (int)weights.Dim(1);
        var dtype = weights.DType;
        ulong pw = weights.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            var w = new float[(long)n * k];
            if (dtype == DType.F32) new ReadOnlySpan<float>((void*)pw, w.Length).CopyTo(w);
            else
            {
                var bits = new ReadOnlySpan<ushort>((void*)pw, w.Length);
                for (int i = 0; i < w.Length; i++) w[i] = HalfBits.ToFloat(bits[i], dtype);
            }
            WeightOnlyPacking.Quantize(w, n, k, scheme, new Span<sbyte>((void*)pq, w.Length),
                new Span<float>((void*)ps, n * scheme.Groups(k)));
        });
    }

    protected override void RepackCore(ComputeStream stream, Tensor q, Tensor scales, WeightOnlyMatrix destination)
    {
        var d = destination;
        ulong pq = q.Ptr.Address, ps = scales.Ptr.Address, pp = d.Packed.Ptr.Address, pps = d.Scales.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            WeightOnlyPacking.Repack(d.Scheme.Format, new ReadOnlySpan<sbyte>((void*)pq, d.N * d.K), d.N, d.K,
                new Span<byte>((void*)pp, (int)d.Packed.ByteCount));
            WeightOnlyPacking.RepackScales(new ReadOnlySpan<float>((void*)ps, d.N * d.Groups), d.N, d.Groups,
                new Span<float>((void*)pps, d.Groups * d.PaddedN));
        });
    }
}
