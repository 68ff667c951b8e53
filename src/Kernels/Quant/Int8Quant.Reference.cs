using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class Int8QuantReference : Int8Quant
{
    protected override void QuantizeActivationsCore(ComputeStream stream, Tensor x, Tensor q, Tensor scales, int rows, int k, int kp, DevicePtr tokenCount)
    {
        ulong px = x.Ptr.Address, pq = q.Ptr.Address, ps = scales.Ptr.Address, pn = tokenCount.Address;
        var dtype = x.DType;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(pn, rows);
            Parallel.For(0, valid, r =>
            {
                var xr = ReferenceReads.HalfToFloats((ushort*)px + (long)r * k, k, dtype);
                ((float*)ps)[r] = HostQuantizeRow(xr, new Span<sbyte>((sbyte*)pq + (long)r * kp, kp));
            });
        });
    }
}
