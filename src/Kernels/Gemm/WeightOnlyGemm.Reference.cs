using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Managed weight-only GEMM: unpacks the packed weights (so the layout itself is checked), and per
/// output element accumulates x·q per scale group in fp32, scales and sums the groups in fp32, adds the
/// bias and rounds once, which is the order the GPU kernels use.
/// </summary>
internal sealed unsafe class WeightOnlyGemmReference : WeightOnlyGemm
{
    protected override WeightOnlyPlan PlanCore(WeightOnlyMatrix weights, DType activation, int maxRows) =>
        new(weights, activation, maxRows) { ChunksPerSplit = weights.ChunksK };

    protected override void MatMulCore(ComputeStream stream, Tensor a, WeightOnlyPlan plan, Tensor c, int rows, DevicePtr tokenCount, Tensor? bias)
    {
        var w = plan.Weights;
        var dtype = plan.Activation;
        int n = w.N, k = w.K, groups = w.Groups, group = k / groups, npad = w.PaddedN;
        var scheme = w.Scheme;
        ulong pa = a.Ptr.Address, pc = c.Ptr.Address, pw = w.Packed.Ptr.Address, ps = w.Scales.Ptr.Address;
        ulong pb = bias?.Ptr.Address ?? 0, pt = tokenCount.Address;
        int packedBytes = (int)w.Packed.ByteCount;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(pt, rows);   // read at run time: replay sees the current count
            if (valid == 0) return;
            var q = new sbyte[(long)n * k];
            WeightOnlyPacking.Unpack(scheme.Format, new ReadOnlySpan<byte>((void*)pw, packedBytes), n, k, q);
            var qf = new float[q.Length];
            for (int i = 0; i < q.Length; i++) qf[i] = q[i];
            var scales = new ReadOnlySpan<float>((void*)ps, groups * npad).ToArray();
            Parallel.For(0, valid, r =>
            {
                var arow = new ReadOnlySpan<ushort>((ushort*)pa + (long)r * k, k);
                var af = new float[k];
                for (int i = 0; i < k; i++) af[i] = HalfBits.ToFloat(arow[i], dtype);
                var crow = new Span<ushort>((ushort*)pc + (long)r * n, n);
                for (int j = 0; j < n; j++)
                {
                    float acc = 0f;
                    for (int gi = 0; gi < groups; gi++)
                        acc += scales[gi * npad + j] * VectorMath.Dot(
                            new ReadOnlySpan<float>(af, gi * group, group), new ReadOnlySpan<float>(qf, j * k + gi * group, group));
                    if (pb != 0) acc += HalfBits.ToFloat(((ushort*)pb)[j], dtype);
                    crow[j] = HalfBits.FromFloat(acc, dtype);
                }
            });
        });
    }
}
