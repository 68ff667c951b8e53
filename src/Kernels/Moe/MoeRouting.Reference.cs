using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class MoeRoutingReference : MoeRouting
{
    /// <summary>The valid row count as the device holds it now (read inside the closure, at run time).</summary>
    internal static int ValidRows(DevicePtr tokenCount, int rows) =>
        tokenCount.IsNull ? rows : Math.Clamp(*(int*)tokenCount.Address, 0, rows);

    protected override void TopKSoftmaxCore(ComputeStream stream, Tensor logits, int rows, DevicePtr tokenCount, int topK, bool renormalize,
                                            Tensor ids, Tensor weights)
    {
        var dtype = logits.DType;
        int experts = (int)logits.Dim(1);
        ulong pl = logits.Ptr.Address, pi = ids.Ptr.Address, pw = weights.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ValidRows(tokenCount, rows);
            var row = new float[experts];
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
                var bits = new ReadOnlySpan<ushort>((ushort*)pl + (long)t * experts, experts);
                for (int e = 0; e < experts; e++) row[e] = HalfBits.ToFloat(bits[e], dtype);
                MoeRoutingHost.TopK(row, topK, renormalize, outIds, outW);
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
            int valid = ValidRows(tokenCount, rows);
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
