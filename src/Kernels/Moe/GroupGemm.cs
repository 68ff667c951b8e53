namespace GraphEngine.Kernels.Moe;

/// <summary>
/// The capturable MoE group GEMM for bf16/fp16, wint8 and wint4 (per-channel or grouped) weights, in both
/// token layouts: C_e = A_e · W_eᵀ per expert, fp32 accumulation, integer weights converted exactly to the
/// activation type and scaled in fp32 (per channel at the end, per group at each group's end). The tile
/// schedule is derived on the device from the offsets; experts with no rows are never read.
/// Also quantizes bf16/fp16 expert weights on the device (<see cref="Quantize"/>).
/// </summary>
public abstract class GroupGemm
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static GroupGemm Create(Device device) =>
        KernelBackend.Create<GroupGemm>(device, cuda => new GroupGemmCuda(cuda), () => new GroupGemmReference());

    /// <summary>
    /// The CUDA kernel <see cref="Run"/> launches for <paramref name="problem"/>'s host-side shape (layout, experts,
    /// N, K, rows bound; its tensors are not read) and <paramref name="weights"/>' format on <paramref name="target"/>:
    /// group_gemm_stream (few rows per expert: the weights streamed once), group_gemm_tma / group_gemm_tma_int (Hopper, half
    /// weights / integer codes, from 48 rows per expert), group_gemm_wgmma (Hopper, fewer rows; int8 codes from 24),
    /// group_gemm_pipe (the cp.async pipeline) or group_gemm (the register-staged tile), each with its tile arguments
    /// and T for the activation type.
    /// </summary>
    public static string Variant(GroupGemmProblem problem, ExpertWeights weights, LaunchTarget target) =>
        GroupGemmCuda.KernelName(LaunchTarget.TypeParameter, problem, weights, target);

    /// <summary>
    /// Every name <see cref="Variant"/> can return on <paramref name="target"/>: half, int8 and int4 per-channel
    /// weights and int4 in groups of 64 and 128, K from 1 to 512 (every tile choice depends on K only through
    /// K mod 256 and K mod 8, the weight-streaming one on K mod 32), rows per expert 1, 16, 24, 48 and 96 (the rule's
    /// thresholds: up to 8 rows stream the weights, 9 to 23 take the few-row tiles, from 48 half weights and integer codes
    /// take the TMA kernels), and 64 experts of N = 3072 sharing 96 rows (half weights too wide to stream), both epilogues (the
    /// epilogue changes the name, never the tile). With them, what it returns at K a multiple of 256 with the TMA kernels
    /// taken out of the rule: the kernels the bench's A/B rows ("[cp.async wgmma]", "[pipelined]") time at the models' shapes.
    /// </summary>
    public static IReadOnlyList<string> Variants(LaunchTarget target)
    {
        var formats = new (ExpertWeightFormat Format, Quant.GroupSize Group)[]
        {
            (ExpertWeightFormat.Half, Quant.GroupSize.PerChannel), (ExpertWeightFormat.Int8PerChannel, Quant.GroupSize.PerChannel),
            (ExpertWeightFormat.Int4PerChannel, Quant.GroupSize.PerChannel), (ExpertWeightFormat.Int4Group, Quant.GroupSize.Of(64)),
            (ExpertWeightFormat.Int4Group, Quant.GroupSize.Of(128)),
        };
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (format, group) in formats)
        {
            var w = new ExpertWeights(format, default, default, default, group);
            for (int k = 1; k <= 512; k++)
                if (group.Divides(k))
                    foreach (var epilogue in new[] { GroupGemmEpilogue.None, GroupGemmEpilogue.SwiGlu })
                    {
                        foreach (int rows in new[] { 1, 16, 24, 48, 96 })
                        {
                            var p = new GroupGemmProblem(TokenLayout.PrefixSum, 1, 128, k, rows, default, default, default, epilogue);
                            names.Add(Variant(p, w, target));
                            if (k % 256 == 0) names.Add(GroupGemmCuda.WithoutTma(() => Variant(p, w, target)));
                        }
                        // Many experts with a row or two each (sixteen ERNIE tokens): too many weight columns in all to stream.
                        names.Add(Variant(new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, k, 96, default, default, default, epilogue), w, target));
                        // Six rows over 64 experts of N = 3072 (one ERNIE token): more streaming blocks than one wave holds,
                        // the two-deep instance (GroupGemmCuda.StreamDepth).
                        names.Add(Variant(new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, k, 6, default, default, default, epilogue), w, target));
                    }
        }
        return names.ToArray();
    }

    /// <summary>
    /// C_e = A_e · W_eᵀ for every expert of <paramref name="problem"/> with <paramref name="weights"/>, on <paramref name="stream"/>;
    /// capturable. Every format and kernel variant takes <see cref="GroupGemmEpilogue.SwiGlu"/> (C = silu(gate) · up, [rows, N / 2]).
    /// wi4a16 weights are refused (they run on <see cref="Wi4A16GroupGemm"/>).
    /// </summary>
    public void Run(ComputeStream stream, GroupGemmProblem problem, ExpertWeights weights)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var act = problem.A.IsEmpty ? DType.BF16 : problem.A.DType;
        if (!act.IsHalfPrecisionFloat()) throw new ArgumentException($"A must be BF16 or F16, got {problem.A}", nameof(problem));
        problem.Validate(act, act);
        if (weights.Format == ExpertWeightFormat.Int4ZeroPointGroup)
            throw new ArgumentException("Int4ZeroPointGroup (wi4a16) weights run on Wi4A16GroupGemm, which plans its tiles on the host", nameof(weights));
        weights.Validate(act, problem.Experts, problem.N, problem.K);
        RequireDevice(stream.Device, problem, weights);
        if (problem.RowsBound == 0) return;
        RunCore(stream, problem, weights);
    }

    /// <summary>
    /// Quantizes <paramref name="source"/> ([E, N, K] bf16/fp16) into <paramref name="destination"/> by the
    /// rules of <see cref="ExpertWeightMath"/>; Half copies.
    /// </summary>
    public void Quantize(ComputeStream stream, Tensor source, ExpertWeights destination)
    {
        ArgumentNullException.ThrowIfNull(stream);
        source.RequireRank(nameof(source), 3).RequireDevice(nameof(source), stream.Device);
        if (!source.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(source)} must be BF16 or F16, got {source}", nameof(source));
        if (destination.Format == ExpertWeightFormat.Int4ZeroPointGroup)
            throw new ArgumentException("wi4a16 weights are quantized by Wi4A16GroupGemm.Quantize", nameof(destination));
        destination.Validate(source.DType, (int)source.Dim(0), (int)source.Dim(1), (int)source.Dim(2));
        if (destination.Format == ExpertWeightFormat.Half)
        {
            stream.CopyAsync(destination.Weights.Ptr, source.Ptr, source.ByteCount);
            return;
        }
        QuantizeCore(stream, source, destination);
    }

    internal static void RequireDevice(Device device, GroupGemmProblem p, ExpertWeights w)
    {
        p.A.RequireDevice("A", device);
        p.C.RequireDevice("C", device);
        p.Offsets.RequireDevice("Offsets", device);
        w.Weights.RequireDevice("Weights", device);
        if (!w.Scales.IsEmpty) w.Scales.RequireDevice("Scales", device);
        if (!w.Zeros.IsEmpty) w.Zeros.RequireDevice("Zeros", device);
    }

    /// <summary>The backend's kernel behind <see cref="Run"/>, called once the arguments are checked.</summary>
    protected abstract void RunCore(ComputeStream stream, GroupGemmProblem problem, ExpertWeights weights);
    /// <summary>The backend's kernel behind <see cref="Quantize"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights destination);
}
