using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Conformance;

/// <summary>
/// The capturable group GEMM (bf16/fp16, wint8, wint4) run through its expert method, with the plain epilogue and with
/// SwiGLU fused (<see cref="GroupGemmEpilogue.SwiGlu"/>), against a float64 oracle of the host-quantized weights. One
/// case per tile the H200's rule can pick (<see cref="GroupGemm.Variants"/>: each tile has a plain and a fused
/// instance), each run on both token layouts with uneven expert counts (one expert empty, one spanning several M tiles),
/// NaN in every row past an expert's count, and an odd F whose last column block is partial. The kernels the bench's A/B
/// rows time with the TMA kernels taken out of the rule ("[cp.async wgmma]", "[pipelined]") have cases of their own
/// where their tiles differ from the rule's (cp-async in the name), so every kernel the bench reports is one the check ran.
/// </summary>
public static class GroupGemmCases
{
    /// <summary>F of every case: odd, and past one 128-column block of C, so blocks end inside the tile and C's rows are not 4-byte pairs.</summary>
    private const int Ffn = 139;
    private const int Experts = 4;

    /// <summary>The fused epilogue's bound (<see cref="Tolerance.SwiGluEpilogue"/>); the plain product rounds once.</summary>
    internal static Tolerance EpilogueTolerance(GroupGemmEpilogue epilogue, DType output) => epilogue == GroupGemmEpilogue.SwiGlu
        ? Tolerance.SwiGluEpilogue(output)
        : Tolerance.OneRounding(output, "fp32 accumulation and scales, one output rounding");

    public static IEnumerable<ConformanceCase> Cases()
    {
        foreach (var spec in Representatives(LaunchTarget.H200))
        {
            string m = spec.Mode == QuantMode.None ? "bf16" : spec.Group.IsPerChannel ? spec.Mode.Label() : $"{spec.Mode.Label()}-{spec.Group}";
            string ab = spec.WithoutTma ? "/cp-async" : "";
            yield return new ConformanceCase($"moe/group-gemm/{m}{ab}/rows-per-expert={spec.RowsPerExpert}/k={spec.K}/f={Ffn}", "moe",
                d => spec.Scoped(() => Run(d, spec)), spec.RowsPerExpert > 1 ? CaseTier.Full : CaseTier.Ci)
            { Variants = t => spec.Variants(t) };
        }
    }

    /// <summary>
    /// One case's weights and shape: the gate/up GEMM of F = <see cref="Ffn"/> (N = 2F) over K, E = 4 experts;
    /// <paramref name="WithoutTma"/>: with the TMA kernels out of the rule, as the bench's A/B runs it.
    /// </summary>
    private sealed record Spec(QuantMode Mode, GroupSize Group, int K, int RowsPerExpert, bool WithoutTma = false)
    {
        /// <summary><paramref name="body"/> under the rule this case runs.</summary>
        public T Scoped<T>(Func<T> body) => WithoutTma ? GroupGemmCuda.WithoutTma(body) : body();

        public ExpertWeights Format => new(WeightOnlyFormat, default, default, default, Group);

        private ExpertWeightFormat WeightOnlyFormat => Mode == QuantMode.None ? ExpertWeightFormat.Half
            : Mode == QuantMode.WInt8 ? ExpertWeightFormat.Int8PerChannel
            : Group.IsPerChannel ? ExpertWeightFormat.Int4PerChannel : ExpertWeightFormat.Int4Group;

        /// <summary>Prefix sums: RowsBound / E = rows per expert; padded: P / 8 (the launcher's planning rule).</summary>
        public GroupGemmProblem Shape(TokenLayout layout, GroupGemmEpilogue epilogue) => new(layout, Experts, 2 * Ffn, K,
            layout == TokenLayout.PrefixSum ? RowsPerExpert * Experts + 3 : 8 * RowsPerExpert, default, default, default, epilogue);

        public IReadOnlyList<string> Variants(LaunchTarget t) => Scoped(() =>
            (from layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded }
             from epilogue in new[] { GroupGemmEpilogue.None, GroupGemmEpilogue.SwiGlu }
             select GroupGemm.Variant(Shape(layout, epilogue), Format, t)).Distinct().ToArray());
    }

    /// <summary>
    /// A spec for every distinct plain tile the rule picks on <paramref name="target"/>, over the domain
    /// <see cref="GroupGemm.Variants"/> spans, then for every further one the rule picks without the TMA kernels; the largest
    /// K that reaches it, so the ring runs several K tiles.
    /// </summary>
    private static IEnumerable<Spec> Representatives(LaunchTarget target)
    {
        var modes = new (QuantMode, GroupSize)[]
        {
            (QuantMode.None, GroupSize.PerChannel), (QuantMode.WInt8, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.PerChannel),
            (QuantMode.WInt4, GroupSize.Of(64)), (QuantMode.WInt4, GroupSize.Of(128)),
        };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var specs = new List<Spec>();
        foreach (bool withoutTma in new[] { false, true })
            foreach (var (mode, group) in modes)
                foreach (int rows in new[] { 1, 16, 24, 48, 96 })
                    for (int k = 512; k >= 2; k--)
                    {
                        // int4 packs two codes per byte along K.
                        if (!group.Divides(k) || (mode == QuantMode.WInt4 && k % 2 != 0)) continue;
                        // The bench's A/B runs the models' shapes, K a multiple of 256 (GroupGemm.Variants).
                        if (withoutTma && k % 256 != 0) continue;
                        var spec = new Spec(mode, group, k, rows, withoutTma);
                        string name = spec.Scoped(() => GroupGemm.Variant(spec.Shape(TokenLayout.PrefixSum, GroupGemmEpilogue.None), spec.Format, target));
                        if (seen.Add(name)) specs.Add(spec);
                    }
        return specs;
    }

    /// <summary>Uneven counts in [0, slab]: one expert across several M tiles, one empty.</summary>
    private static int[] Counts(TokenLayout layout, int rowsPerExpert, int rowsBound) => layout == TokenLayout.PrefixSum
        ? new[] { 2 * rowsPerExpert + 1, 0, Math.Max(rowsPerExpert - 1, 0), rowsPerExpert }
        : new[] { rowsBound - 1, 0, Math.Min(rowsBound, 5), rowsBound / 3 };

    private static CaseResult Run(Device device, Spec spec)
    {
        int n = 2 * Ffn, k = spec.K;
        var source = Values((long)Experts * n * k, 71, 2f / MathF.Sqrt(k));
        using var stream = device.CreateStream();
        using var wBuf = device.AllocateTensor(DType.BF16, new long[] { Experts, n, k }, out var wT, "group GEMM source weights");
        wT.UploadFloats(source);
        int maxBound = Math.Max(spec.Shape(TokenLayout.PrefixSum, default).RowsBound, spec.Shape(TokenLayout.Padded, default).RowsBound);
        using var method = MoeMethods.Create(spec.Mode, device, stream, wT, spec.Group, TokenLayout.PrefixSum, maxBound);
        stream.Synchronize();
        var experts = new MoeCases.ExpertOperands[Experts];
        for (int e = 0; e < Experts; e++) experts[e] = MoeCases.QuantizeExpert(spec.Mode, spec.Group, source.AsMemory(e * n * k, n * k), n, k);
        var results = new List<CaseResult>();
        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
        {
            var plain = spec.Shape(layout, GroupGemmEpilogue.None);
            var counts = Counts(layout, spec.RowsPerExpert, plain.RowsBound);
            foreach (var epilogue in new[] { GroupGemmEpilogue.None, GroupGemmEpilogue.SwiGlu })
                results.Add(RunOne(device, stream, method, experts, plain with { Epilogue = epilogue }, counts));
        }
        return CaseResult.All(results.ToArray());
    }

    private static CaseResult RunOne(Device device, ComputeStream stream, IMoeMethod method, MoeCases.ExpertOperands[] experts,
                                     GroupGemmProblem shape, int[] counts)
    {
        bool prefix = shape.Layout == TokenLayout.PrefixSum;
        int k = shape.K, n = shape.N, nc = shape.OutputColumns, bound = shape.RowsBound;
        int totalRows = prefix ? bound : Experts * bound;
        // Row r's expert, or -1 for a row no expert owns (NaN in A, never written in C).
        var owner = Enumerable.Repeat(-1, totalRows).ToArray();
        var offsets = prefix ? new int[Experts + 1] : counts;
        for (int e = 0, at = 0; e < Experts; e++)
        {
            int begin = prefix ? at : e * bound;
            for (int r = begin; r < begin + counts[e]; r++) owner[r] = e;
            at += counts[e];
            if (prefix) offsets[e + 1] = at;
        }
        var a = Values((long)totalRows * k, 72, 1f);
        for (int r = 0; r < totalRows; r++)
            if (owner[r] < 0) a.AsSpan(r * k, k).Fill(float.NaN);
        using var aBuf = device.AllocateTensor(DType.BF16, prefix ? new long[] { totalRows, k } : new long[] { Experts, bound, k }, out var aT, "A");
        using var cBuf = device.AllocateTensor(DType.BF16, prefix ? new long[] { totalRows, nc } : new long[] { Experts, bound, nc }, out var cT, "C");
        using var oBuf = device.AllocateTensor(DType.I32, new long[] { offsets.Length }, out var oT, "offsets");
        aT.UploadFloats(a);
        oT.UploadInts(offsets);
        cT.Poison(stream);
        method.Forward(stream, shape with { A = aT, Offsets = oT, C = cT });
        stream.Synchronize();
        var c = cT.DownloadFloats();

        var expected = new List<double>();
        var actual = new List<float>();
        for (int e = 0; e < Experts; e++)
        {
            int begin = prefix ? offsets[e] : e * bound, m = counts[e];
            if (m == 0) continue;
            var product = Float64.MatMulT(a.AsMemory(begin * k, m * k), m, experts[e].Values, n, k, experts[e].Group, bScales: experts[e].Scales);
            for (int r = 0; r < m; r++)
                for (int j = 0; j < nc; j++)
                {
                    double v = product[(long)r * n + j];
                    if (shape.Epilogue == GroupGemmEpilogue.SwiGlu)
                    {
                        double up = product[(long)r * n + nc + j];
                        v = v / (1 + Math.Exp(-v)) * up;
                    }
                    expected.Add(v);
                    actual.Add(c[(long)(begin + r) * nc + j]);
                }
        }
        int written = 0;
        for (int r = 0; r < totalRows; r++)
            if (owner[r] < 0)
                for (int j = 0; j < nc; j++) written += float.IsNaN(c[(long)r * nc + j]) ? 0 : 1;
        string what = $"{method.Label} {shape.Layout} {shape.Epilogue} counts [{string.Join(", ", counts)}] K={k} F={n / 2}";
        return CaseResult.All(
            Checks.Close(what, expected.ToArray(), actual.ToArray(), nc, EpilogueTolerance(shape.Epilogue, DType.BF16)),
            Checks.True(written == 0, $"rows no expert owns left as poisoned: {written} values written"));
    }

    /// <summary>bf16 values, uniform in ±<paramref name="scale"/>, a pure function of (index, seed).</summary>
    private static float[] Values(long count, uint seed, float scale)
    {
        var v = new float[count];
        for (long i = 0; i < count; i++) v[i] = HalfBits.ToFloat(HalfBits.FromFloat(RandomFill.UniformValue(i, seed, scale, 0f), DType.BF16), DType.BF16);
        return v;
    }
}
