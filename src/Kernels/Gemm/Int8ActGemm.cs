using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// The w8a8 / w4a8 Linear GEMM on the int8 tensor cores (native/gemm/int8_act_gemm.cu; w8a8 at many rows on sm_90
/// native/gemm/int8_act_tma.cu):
/// C[m, n] = a_scale[m] · Σ_groups w_scale[g, n] · (A_q[m, g·] · W_q[n, g·]), with A_q int8 codes and one fp32
/// scale per token (<see cref="Int8Quant"/>), W_q int8 or int4 codes in <see cref="Int8ActPacking"/>'s layout,
/// one scale per output channel or per 128 of K. Integer products are summed exactly in int32 (per 128-wide K
/// block when grouped), the scales are applied in fp32 in a fixed order, and each output is rounded once to
/// bf16 / fp16, so both backends produce the same bits. Rows at or past the device token count are neither read
/// nor written. Capturable.
/// </summary>
public abstract class Int8ActGemm
{
    /// <summary>
    /// The GEMM for <paramref name="device"/>. <paramref name="variant"/> null: each call runs the variant
    /// <see cref="ChooseVariant(int, WeightOnlyFormat, bool, int, int)"/> picks for the GPU; otherwise every call runs that
    /// variant (conformance forces each in turn; the TMA kernel only on sm_90, for int8 per-channel weights).
    /// </summary>
    public static Int8ActGemm Create(Device device, Int8ActGemmVariant? variant = null) => device switch
    {
        CudaDevice cuda when variant == Int8ActGemmVariant.Tma && !TmaArchitecture(cuda.Info.ComputeMajor, cuda.Info.ComputeMinor) =>
            throw new ArgumentException($"the TMA int8 GEMM needs sm_90 (wgmma, TMA); this GPU is {cuda.Info.Architecture}", nameof(variant)),
        CudaDevice cuda => new Int8ActGemmCuda(cuda, variant),
        ReferenceDevice when variant is null => new Int8ActGemmReference(),
        ReferenceDevice => throw new ArgumentException($"the reference backend has no int8-activation GEMM variants; got {variant}", nameof(variant)),
        _ => throw new ArgumentException($"no Int8ActGemm for backend {device.Kind}", nameof(device)),
    };

    /// <summary>Rows up to which the small tile is picked: below that a 64-row tile wastes MMA rows and, worse, gives too few blocks to stream the weights at full bandwidth.</summary>
    public const int SmallTileMaxRows = 32;

    /// <summary>The mma.sync tile rule (every GPU, every format; the group GEMM's too), a pure function of the rows the launch covers (the host bound): the 16 x 32 tile up to <see cref="SmallTileMaxRows"/> rows, the 64 x 128 tile above.</summary>
    public static Int8ActGemmVariant ChooseVariant(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        return rows <= SmallTileMaxRows ? Int8ActGemmVariant.Small : Int8ActGemmVariant.Large;
    }

    /// <summary>The mma.sync tiles (any sm_80 GPU, every format; the experts' group GEMM has the same two): what <see cref="ChooseVariant(int)"/> picks from.</summary>
    public static IReadOnlyList<Int8ActGemmVariant> Variants { get; } = new[] { Int8ActGemmVariant.Small, Int8ActGemmVariant.Large };

    /// <summary>
    /// Host rows from which the Hopper TMA kernel (<see cref="Int8ActGemmVariant.Tma"/>) takes w8a8 on sm_90: where a
    /// 128 x 256 tile per SM has two M tiles to share each weight tile across and the 64 x 128 mma.sync tile falls behind
    /// the int8 matrix rate. The threshold of the cuBLASLt IMMA path it replaces there, kept so the switch changes one
    /// kernel for another at the same shapes; not tuned on its own yet.
    /// </summary>
    public const int TmaMinRows = 256;

    /// <summary>
    /// For the bench's A/B only (bench/KernelSuite.cs): while set on this thread, <see cref="TmaApplies"/> is false, so a
    /// w8a8 Linear built and run meanwhile takes the path it takes on other GPUs (cuBLASLt IMMA at many rows). Never set
    /// by the engine.
    /// </summary>
    [ThreadStatic] internal static bool TmaOff;

    /// <summary>Whether the GPU can run the TMA kernel: sm_90 (wgmma and setmaxnreg are sm_90a; Blackwell has neither in that form).</summary>
    public static bool TmaArchitecture(int computeMajor, int computeMinor) => computeMajor == 9 && computeMinor == 0;

    /// <summary>
    /// The rule for the TMA kernel, a pure function of the launch's host rows, the weight format and grouping and the
    /// compute capability: int8 codes with per-channel scales (the kernel applies one scale per column; w4a8 would need
    /// the int4 expansion, group scales the per-block partials), sm_90, at least <see cref="TmaMinRows"/> rows.
    /// </summary>
    public static bool TmaApplies(WeightOnlyFormat format, bool grouped, int rows, int computeMajor, int computeMinor) =>
        format == WeightOnlyFormat.Int8 && !grouped && rows >= TmaMinRows && TmaArchitecture(computeMajor, computeMinor) && !TmaOff;

    /// <summary>
    /// Host rows up to which the Linear takes a weight-streaming kernel: <see cref="Int8ActGemmVariant.StreamNarrow"/> up to
    /// <see cref="StreamNarrowMaxRows"/>, <see cref="Int8ActGemmVariant.Stream"/> above. A block covers all the rows, so every
    /// weight byte is read once.
    /// </summary>
    public const int StreamMaxRows = 16, StreamNarrowMaxRows = 8;

    /// <summary>
    /// The launcher's rule on a GPU: the TMA kernel where <see cref="TmaApplies"/>, a weight-streaming kernel up to
    /// <see cref="StreamMaxRows"/> host rows (the narrow one up to <see cref="StreamNarrowMaxRows"/>), else the tile
    /// <see cref="ChooseVariant(int)"/> picks.
    /// </summary>
    public static Int8ActGemmVariant ChooseVariant(int rows, WeightOnlyFormat format, bool grouped, int computeMajor, int computeMinor) =>
        TmaApplies(format, grouped, rows, computeMajor, computeMinor) ? Int8ActGemmVariant.Tma
        : rows <= StreamNarrowMaxRows ? Int8ActGemmVariant.StreamNarrow
        : rows <= StreamMaxRows ? Int8ActGemmVariant.Stream
        : ChooseVariant(rows);

    /// <summary>Every variant the Linear's rule can pick on a GPU for a weight format and grouping: the streaming kernel, both tiles, and the TMA kernel for w8a8 on sm_90.</summary>
    public static IReadOnlyList<Int8ActGemmVariant> VariantsFor(WeightOnlyFormat format, bool grouped, int computeMajor, int computeMinor) =>
        format == WeightOnlyFormat.Int8 && !grouped && TmaArchitecture(computeMajor, computeMinor)
            ? new[] { Int8ActGemmVariant.StreamNarrow, Int8ActGemmVariant.Stream, Int8ActGemmVariant.Small, Int8ActGemmVariant.Large, Int8ActGemmVariant.Tma }
            : new[] { Int8ActGemmVariant.StreamNarrow, Int8ActGemmVariant.Stream, Int8ActGemmVariant.Small, Int8ActGemmVariant.Large };

    /// <summary>The kernel instance a variant runs for a weight format and grouping, T for the output type: what `graphengine check --list` names.</summary>
    public static string KernelName(Int8ActGemmVariant variant, WeightOnlyFormat format, bool grouped) =>
        Int8ActGemmCuda.KernelName(LaunchTarget.TypeParameter, variant, format, grouped);

    /// <summary>
    /// C [rows, N] from <paramref name="a"/> I8 [>= rows, Kp] with <paramref name="aScales"/> F32 [>= rows] and
    /// <paramref name="w"/> (I8 [Np, Kp] for int8 codes, U8 [Np, Kp / 2] for int4) with <paramref name="wScales"/>
    /// F32 [groups, Np] (groups = Kp / 128 for 128-wide groups, 1 per channel), for rows [0, <paramref name="rows"/>)
    /// below <paramref name="tokenCount"/>; <paramref name="c"/> bf16 / fp16.
    /// </summary>
    public void MatMul(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c, int rows, DevicePtr tokenCount)
    {
        ArgumentNullException.ThrowIfNull(stream);
        a.RequireRank(nameof(a), 2).Require(nameof(a), DType.I8).RequireDevice(nameof(a), stream.Device);
        long kp = a.Dim(1);
        if (kp % Int8ActPacking.Block != 0) throw new ArgumentException($"{nameof(a)} must have K padded to a multiple of 128, got {a}", nameof(a));
        aScales.RequireRank(nameof(aScales), 1).Require(nameof(aScales), DType.F32).RequireDevice(nameof(aScales), stream.Device);
        w.RequireRank(nameof(w), 2).RequireDevice(nameof(w), stream.Device);
        var format = w.DType switch
        {
            DType.I8 => WeightOnlyFormat.Int8,
            DType.U8 => WeightOnlyFormat.Int4,
            _ => throw new ArgumentException($"{nameof(w)} must be I8 (int8 codes) or U8 (packed int4 codes), got {w}", nameof(w)),
        };
        long np = w.Dim(0), rowBytes = format == WeightOnlyFormat.Int8 ? kp : kp / 2;
        if (w.Dim(1) != rowBytes || np % Int8ActPacking.Block != 0)
            throw new ArgumentException($"{nameof(w)} must be [Np (multiple of 128), {rowBytes}], got {w}", nameof(w));
        wScales.RequireRank(nameof(wScales), 2).Require(nameof(wScales), DType.F32).RequireDevice(nameof(wScales), stream.Device);
        long groups = wScales.Dim(0);
        if (wScales.Dim(1) != np || (groups != 1 && groups != kp / Int8ActPacking.Block))
            throw new ArgumentException($"{nameof(wScales)} must be [1 or {kp / Int8ActPacking.Block}, {np}], got {wScales}", nameof(wScales));
        bool grouped = groups > 1;
        if (!grouped && kp > Int8ActPacking.MaxPerChannelK)
            throw new ArgumentException($"per-channel scales need Kp <= {Int8ActPacking.MaxPerChannelK} (int32 sums), got {kp}", nameof(wScales));
        c.RequireRank(nameof(c), 2).RequireDevice(nameof(c), stream.Device);
        if (!c.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(c)} must be BF16 or F16, got {c}", nameof(c));
        long n = c.Dim(1);
        if (n < 1 || Fp8Quant.Pad128((int)n) != np)
            throw new ArgumentException($"{nameof(c)} has {n} columns but {nameof(w)} holds {np} padded rows", nameof(c));
        if (rows < 0 || rows > a.Rows || rows > aScales.Rows || rows > c.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({a.Rows}, {aScales.Rows}, {c.Rows})]");
        if (rows == 0) return;
        MatMulCore(stream, a, aScales, w, wScales, c, rows, (int)n, (int)np, (int)kp, format, grouped, tokenCount);
    }

    /// <summary>Compiles every kernel a call with this output type, format and grouping can run (no-op on the reference backend).</summary>
    public virtual void Prepare(DType output, WeightOnlyFormat format, bool grouped) { }

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, Tensor aScales, Tensor w, Tensor wScales, Tensor c,
        int rows, int n, int np, int kp, WeightOnlyFormat format, bool grouped, DevicePtr tokenCount);

    /// <summary>
    /// The definition both backends follow, for one output: <paramref name="parts"/> are the exact int32 sums of each
    /// scale group (one per channel), combined in fp32 as the kernel does: per channel (float)sum · w_scale · a_scale;
    /// grouped fma((float)part, w_scale[g], total) over the groups in order, then · a_scale.
    /// </summary>
    public static float Epilogue(ReadOnlySpan<int> parts, ReadOnlySpan<float> wScales, float aScale)
    {
        if (parts.Length == 1) return (float)parts[0] * wScales[0] * aScale;
        float total = 0;
        for (int g = 0; g < parts.Length; g++) total = MathF.FusedMultiplyAdd(parts[g], wScales[g], total);
        return total * aScale;
    }
}

/// <summary>The kernels of the int8-activation GEMM: one tile template at two shapes, the few-row streaming kernel, the Hopper TMA kernel.</summary>
public enum Int8ActGemmVariant
{
    /// <summary>16 x 32 output tile, 4 warps, 8-stage cp.async ring (7 K blocks in flight, 28 KiB of int8 weights per block): few rows, many blocks, deep enough to stream the weights near full bandwidth.</summary>
    Small,

    /// <summary>64 x 128 output tile, 8 warps (2 x 4, 32 x 32 each), 3-stage cp.async ring.</summary>
    Large,

    /// <summary>
    /// Few rows (native/gemm/int8_act_stream.cu): weights streamed into registers, 16 token rows x 8 weight rows a block,
    /// four warps splitting K in batches of weight and activation loads, the first weights requested before the
    /// dependent-launch wait. Any GPU with int8 mma.sync; the Linear only (the experts' group GEMM has the two tiles);
    /// grouped up to K = 15,360.
    /// </summary>
    Stream,

    /// <summary>The streaming kernel with 8 token rows a block: no registers for the MMA's upper 8 rows, so larger batches.</summary>
    StreamNarrow,

    /// <summary>
    /// Hopper only (native/gemm/int8_act_tma.cu): 128 x 256 tiles fed by the TMA through a 4-stage ring, one producer
    /// thread and two wgmma warpgroups, one persistent CTA per SM; int8 weights with per-channel scales only.
    /// </summary>
    Tma,
}
