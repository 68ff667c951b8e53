using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class GroupGemmReference : GroupGemm
{
    protected override void RunCore(ComputeStream stream, GroupGemmProblem problem, ExpertWeights weights) =>
        ((ReferenceStream)stream).Enqueue(GroupGemmReferenceMath.Plan(problem, weights, tiles: null));

    protected override void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights destination) =>
        ((ReferenceStream)stream).Enqueue(GroupGemmReferenceMath.QuantizePlan(source, destination, zeroPoint: 0f));
}

/// <summary>The managed group GEMM and quantizer shared by the group-GEMM families' reference backends.</summary>
internal static unsafe class GroupGemmReferenceMath
{
    /// <summary>
    /// The work of one group GEMM as a closure that reads the offsets when it runs. With
    /// <paramref name="tiles"/> (wi4a16's host plan: expert, first row, end row) only those rows are computed.
    /// The SwiGLU epilogue rounds each gate and up sum to the activation type, then applies
    /// <see cref="MoePermuteReference.SwiGluValue"/> and rounds once, as the kernels do.
    /// </summary>
    public static Action Plan(GroupGemmProblem p, ExpertWeights w, Func<List<(int Expert, int Begin, int End)>>? tiles)
    {
        var act = p.A.DType;
        int experts = p.Experts, n = p.N, k = p.K, rowsBound = p.RowsBound, groups = w.Groups;
        var groupSize = w.GroupSize;
        int groupWidth = k / groups;    // the group size wherever groups > 1
        var format = w.Format;
        var layout = p.Layout;
        bool swiglu = p.Epilogue == GroupGemmEpilogue.SwiGlu;
        int nc = p.OutputColumns, ffn = n / 2;
        // Mutation testing only (see KernelMutants): the CUDA epilogue's two pairing bugs, gate and up swapped, and gate
        // j paired with up j + 1 (zero past the last column, as the kernels' zero-filled weight rows give).
        bool swap = swiglu && KernelMutants.IsActive("GE_MUTANT_SWIGLU_EPI_SWAP");
        int upShift = swiglu && KernelMutants.IsActive("GE_MUTANT_SWIGLU_EPI_NEIGHBOUR") ? 1 : 0;
        long weightBytes = ExpertWeights.WeightType(format, act).ByteCount((long)n * k);
        ulong pa = p.A.Ptr.Address, pc = p.C.Ptr.Address, po = p.Offsets.Ptr.Address, pw = w.Weights.Ptr.Address;
        ulong ps = w.Scales.IsEmpty ? 0 : w.Scales.Ptr.Address, pz = w.Zeros.IsEmpty ? 0 : w.Zeros.Ptr.Address;
        return () =>
        {
            var ranges = tiles?.Invoke() ?? DeviceRanges(layout, experts, rowsBound, (int*)po);
            var values = new float[(long)n * k];
            int decoded = -1;
            foreach (var (e, begin, end) in ranges)
            {
                if (end <= begin) continue;
                var scales = ps == 0 ? ReadOnlySpan<float>.Empty : new ReadOnlySpan<float>((float*)ps + (long)e * n * groups, n * groups);
                if (decoded != e)
                {
                    var zeros = pz == 0 ? ReadOnlySpan<float>.Empty : new ReadOnlySpan<float>((float*)pz + (long)e * n * groups, n * groups);
                    ExpertWeightMath.Decode(format, act, n, k, groupSize,
                        new ReadOnlySpan<byte>((byte*)pw + e * weightBytes, checked((int)weightBytes)), scales, zeros, values);
                    decoded = e;
                }
                float[] s = scales.ToArray();
                Parallel.For(begin, end, r =>
                {
                    var arow = new float[k];
                    var bits = new ReadOnlySpan<ushort>((ushort*)pa + (long)r * k, k);
                    for (int i = 0; i < k; i++) arow[i] = HalfBits.ToFloat(bits[i], act);
                    var crow = new Span<ushort>((ushort*)pc + (long)r * nc, nc);
                    float Sum(int j)
                    {
                        var wrow = new ReadOnlySpan<float>(values, j * k, k);
                        if (format == ExpertWeightFormat.Half) return VectorMath.Dot(arow, wrow);
                        if (groups == 1) return VectorMath.Dot(arow, wrow) * s[j];
                        float acc = 0f;
                        for (int g = 0; g < groups; g++)
                            acc += VectorMath.Dot(arow.AsSpan(g * groupWidth, groupWidth), wrow.Slice(g * groupWidth, groupWidth)) * s[j * groups + g];
                        return acc;
                    }
                    float Rounded(float v) => HalfBits.ToFloat(HalfBits.FromFloat(v, act), act);
                    for (int j = 0; j < nc; j++)
                    {
                        if (!swiglu)
                        {
                            crow[j] = HalfBits.FromFloat(Sum(j), act);
                            continue;
                        }
                        float gate = Rounded(Sum(j)), up = j + upShift < ffn ? Rounded(Sum(ffn + j + upShift)) : 0f;
                        if (swap) (gate, up) = (up, gate);
                        crow[j] = HalfBits.FromFloat(MoePermuteReference.SwiGluValue(gate, up), act);
                    }
                });
            }
        };
    }

    /// <summary>Row ranges of every expert, from the device offsets as they are now.</summary>
    private static List<(int, int, int)> DeviceRanges(TokenLayout layout, int experts, int rowsBound, int* offsets)
    {
        var list = new List<(int, int, int)>(experts);
        for (int e = 0; e < experts; e++)
        {
            if (layout == TokenLayout.PrefixSum)
            {
                int b = Math.Clamp(offsets[e], 0, rowsBound), end = Math.Clamp(offsets[e + 1], b, rowsBound);
                list.Add((e, b, end));
            }
            else
            {
                int c = Math.Clamp(offsets[e], 0, rowsBound);
                list.Add((e, e * rowsBound, e * rowsBound + c));
            }
        }
        return list;
    }

    /// <summary>
    /// Quantizes [E, N, K] half weights into <paramref name="dst"/> (int8, signed int4, or wi4a16's unsigned
    /// int4 when <paramref name="zeroPoint"/> is non-zero, with the zeros tensor filled with it).
    /// </summary>
    public static Action QuantizePlan(Tensor source, ExpertWeights dst, float zeroPoint)
    {
        var act = source.DType;
        long rows = source.Dim(0) * source.Dim(1);
        int k = (int)source.Dim(2);
        int groupSize = dst.IsGrouped ? dst.GroupSize.Size : k, groups = dst.Groups, qmax = ExpertWeightMath.QMax(dst.Format);
        bool int8 = dst.Format == ExpertWeightFormat.Int8PerChannel;
        int zp = (int)zeroPoint;
        ulong src = source.Ptr.Address, pq = dst.Weights.Ptr.Address, ps = dst.Scales.Ptr.Address;
        ulong pz = dst.Zeros.IsEmpty ? 0 : dst.Zeros.Ptr.Address;
        return () => Parallel.For(0L, rows, r =>
        {
            var w = new float[groupSize];
            var q = new int[groupSize];
            var bits = new ReadOnlySpan<ushort>((ushort*)src + r * k, k);
            for (int g = 0; g < groups; g++)
            {
                for (int i = 0; i < groupSize; i++) w[i] = HalfBits.ToFloat(bits[g * groupSize + i], act);
                float s = ExpertWeightMath.QuantizeSegment(w, qmax, q);
                ((float*)ps)[r * groups + g] = s;
                if (pz != 0) ((float*)pz)[r * groups + g] = zeroPoint;
                for (int i = 0; i < groupSize; i++)
                {
                    long kk = (long)g * groupSize + i;
                    if (int8) { ((sbyte*)pq)[r * k + kk] = (sbyte)q[i]; continue; }
                    int nib = (q[i] + zp) & 15;
                    byte* b = (byte*)pq + (r * k + kk) / 2;
                    *b = (kk & 1) == 0 ? (byte)((*b & 0xF0) | nib) : (byte)((*b & 0x0F) | (nib << 4));
                }
            }
        });
    }
}
