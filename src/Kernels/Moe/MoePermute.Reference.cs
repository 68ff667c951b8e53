using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class MoePermuteReference : MoePermute
{
    protected override void ScatterCore(ComputeStream stream, Tensor x, Tensor inverse, int rows, DevicePtr tokenCount, int topK, Tensor permuted)
    {
        int hidden = (int)x.Dim(1);
        long permRows = permuted.Rows;
        ulong px = x.Ptr.Address, pv = inverse.Ptr.Address, pa = permuted.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(tokenCount, rows);
            var inv = new ReadOnlySpan<int>((int*)pv, valid * topK);
            for (int a = 0; a < inv.Length; a++)
            {
                int dst = inv[a];
                if (dst < 0 || dst >= permRows) continue;
                new ReadOnlySpan<ushort>((ushort*)px + (long)(a / topK) * hidden, hidden)
                    .CopyTo(new Span<ushort>((ushort*)pa + (long)dst * hidden, hidden));
            }
        });
    }

    protected override void SwiGluCore(ComputeStream stream, Tensor h, Tensor output, int rows, RowValidity validity, Tensor validInfo,
                                       DevicePtr tokenCount, int experts, int slotsPerExpert)
    {
        var dtype = h.DType;
        int ffn = (int)output.Dim(1);
        ulong ph = h.Ptr.Address, po = output.Ptr.Address, pi = validInfo.IsEmpty ? 0 : validInfo.Ptr.Address;
        // Mutation testing only (see KernelMutants): the halves of h read the wrong way round.
        int gateAt = KernelMutants.IsActive("GE_MUTANT_SWIGLU_SWAP") ? ffn : 0, upAt = ffn - gateAt;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int dense = ReferenceReads.ValidRows(tokenCount, rows);
            Parallel.For(0, rows, r =>
            {
                bool valid = validity switch
                {
                    RowValidity.PrefixSum => r < ((int*)pi)[experts],
                    RowValidity.Padded => r % slotsPerExpert < ((int*)pi)[r / slotsPerExpert],
                    _ => r < dense,
                };
                if (!valid) return;
                var src = new ReadOnlySpan<ushort>((ushort*)ph + (long)r * 2 * ffn, 2 * ffn);
                var dst = new Span<ushort>((ushort*)po + (long)r * ffn, ffn);
                for (int c = 0; c < ffn; c++)
                    dst[c] = HalfBits.FromFloat(SwiGluValue(HalfBits.ToFloat(src[gateAt + c], dtype), HalfBits.ToFloat(src[upAt + c], dtype)), dtype);
            });
        });
    }

    /// <summary>silu(gate) * up in fp32, as the kernel computes it.</summary>
    internal static float SwiGluValue(float gate, float up) => gate / (1f + MathF.Exp(-gate)) * up;

    protected override void CombineCore(ComputeStream stream, Tensor y, Tensor inverse, Tensor weights, Tensor? shared, int rows,
                                        DevicePtr tokenCount, int topK, Tensor output)
    {
        var dtype = y.DType;
        int hidden = (int)y.Dim(1);
        ulong py = y.Ptr.Address, pv = inverse.Ptr.Address, pw = weights.Ptr.Address, po = output.Ptr.Address;
        ulong ps = shared?.Ptr.Address ?? 0;
        // Mutation testing only (see KernelMutants): the last selected expert is left out of the sum.
        int slots = KernelMutants.IsActive("GE_MUTANT_COMBINE_DROP_LAST_SLOT") ? topK - 1 : topK;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = ReferenceReads.ValidRows(tokenCount, rows);
            Parallel.For(0, rows, t =>
            {
                var dst = new Span<ushort>((ushort*)po + (long)t * hidden, hidden);
                if (t >= valid)
                {
                    dst.Fill(HalfBits.FromFloat(0f, dtype));
                    return;
                }
                var inv = new ReadOnlySpan<int>((int*)pv + (long)t * topK, topK);
                var w = new ReadOnlySpan<float>((float*)pw + (long)t * topK, topK);
                for (int c = 0; c < hidden; c++)
                {
                    float acc = 0f;
                    for (int s = 0; s < slots; s++)
                        acc = MathF.FusedMultiplyAdd(w[s], HalfBits.ToFloat(((ushort*)py)[(long)inv[s] * hidden + c], dtype), acc);
                    if (ps != 0) acc += HalfBits.ToFloat(((ushort*)ps)[(long)t * hidden + c], dtype);
                    dst[c] = HalfBits.FromFloat(acc, dtype);
                }
            });
        });
    }
}
