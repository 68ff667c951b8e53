using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class MoeRoutingReference : MoeRouting
{
    protected override void TopKSoftmaxCore(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK,
                                            in RoutingRule rule, Tensor ids, Tensor weights)
    {
        var dtype = logits.DType;
        int experts = (int)logits.Dim(1);
        var r = rule;
        ulong pl = logits.Ptr.Address, pi = ids.Ptr.Address, pw = weights.Ptr.Address;
        ulong pb = r.HasSelectionBias ? r.SelectionBias.Ptr.Address : 0UL;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(tokenCount, rows);
            var row = new float[experts];
            var bias = pb == 0 ? ReadOnlySpan<float>.Empty : new ReadOnlySpan<float>((float*)pb, experts);
            for (int t = 0; t < rows; t++)
            {
                var outIds = new Span<int>((int*)pi + (long)t * topK, topK);
                var outW = new Span<float>((float*)pw + (long)t * topK, topK);
                if (t >= valid)
                {
                    outIds.Fill(-1);
                    outW.Clear();
                    continue;
                }
                if (dtype == DType.F32)
                {
                    new ReadOnlySpan<float>((float*)pl + (long)t * experts, experts).CopyTo(row);
                }
                else
                {
                    var bits = new ReadOnlySpan<ushort>((ushort*)pl + (long)t * experts, experts);
                    for (int e = 0; e < experts; e++) row[e] = HalfBits.ToFloat(bits[e], dtype);
                }
                MoeRoutingHost.TopK(row, topK, r, bias, outIds, outW);
            }
        });
    }

    protected override void RouterLogitsCore(ComputeStream stream, Tensor x, Tensor weight, int rows, DevicePtr tokenCount, Tensor logits)
    {
        var dtype = x.DType;
        int hidden = (int)x.Dim(1), experts = (int)weight.Dim(0);
        ulong px = x.Ptr.Address, pw = weight.Ptr.Address, pl = logits.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(tokenCount, rows);
            var w = new ReadOnlySpan<float>((float*)pw, experts * hidden);
            var xr = new float[hidden];
            for (int t = 0; t < valid; t++)
            {
                var bits = new ReadOnlySpan<ushort>((ushort*)px + (long)t * hidden, hidden);
                for (int k = 0; k < hidden; k++) xr[k] = HalfBits.ToFloat(bits[k], dtype);
                var outRow = new Span<float>((float*)pl + (long)t * experts, experts);
                for (int e = 0; e < experts; e++) outRow[e] = MoeRoutingHost.Dot(xr, w.Slice(e * hidden, hidden));
            }
        });
    }

    protected override void AssignCore(ComputeStream stream, Tensor ids, int rows, DevicePtr tokenCount, int experts, TokenLayout layout,
                                       int slotsPerExpert, Tensor offsets, Tensor counts, Tensor permutation, Tensor inverse)
    {
        int topK = (int)ids.Dim(1);
        ulong pi = ids.Ptr.Address, po = offsets.Ptr.Address, pc = counts.Ptr.Address, pp = permutation.Ptr.Address, pv = inverse.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(tokenCount, rows);
            var r = MoeRoutingHost.Assign(new ReadOnlySpan<int>((int*)pi, valid * topK), valid, topK, experts, layout, slotsPerExpert);
            r.Counts.CopyTo(new Span<int>((int*)pc, experts));
            r.Offsets.CopyTo(new Span<int>((int*)po, experts + 1));
            // Only the rows an expert owns are written, as on the GPU.
            var perm = new Span<int>((int*)pp, r.Permutation.Length);
            for (int i = 0; i < r.Permutation.Length; i++) if (r.Permutation[i] >= 0) perm[i] = r.Permutation[i];
            var inv = new Span<int>((int*)pv, rows * topK);
            r.Inverse.CopyTo(inv);
            inv[(valid * topK)..].Fill(-1);
        });
    }
}
