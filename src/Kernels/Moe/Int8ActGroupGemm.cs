using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>
/// The w8a8 / w4a8 expert group GEMM (native/moe/int8_act_group_gemm.cu): for every expert e, C_e = A_e · W_eᵀ with
/// the int8-activation GEMM's tile and numerics (<see cref="Int8ActGemm"/>: int8 codes with per-token scales, int8 or
/// int4 weights in <see cref="Int8ActPacking"/>'s layout per expert, exact int32 sums, fp32 epilogue, same bits on
/// both backends). Both token layouts of <see cref="GroupGemmProblem"/>; rows outside every expert's real rows are
/// neither read nor written. Capturable.
/// </summary>
public abstract class Int8ActGroupGemm
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static Int8ActGroupGemm Create(Device device) =>
        KernelBackend.Create<Int8ActGroupGemm>(device, cuda => new Int8ActGroupGemmCuda(cuda), () => new Int8ActGroupGemmReference());

    /// <summary>
    /// The tile for a problem: the rows an expert holds at most (P when padded; the total when prefix sums, where one
    /// expert may take them all) pick it as for the Linear, except that with prefix sums the average per expert
    /// decides, since tiles follow experts and most hold few rows at prefill sizes.
    /// </summary>
    public static Int8ActGemmVariant ChooseVariant(TokenLayout layout, int experts, int rowsBound) =>
        Int8ActGemm.ChooseVariant(layout == TokenLayout.Padded ? rowsBound : (rowsBound + experts - 1) / Math.Max(1, experts));

    /// <summary>The kernel instance for a tile, layout, weight format and grouping, T for the output type.</summary>
    public static string KernelName(Int8ActGemmVariant variant, TokenLayout layout, WeightOnlyFormat format, bool grouped) =>
        Int8ActGroupGemmCuda.KernelName(LaunchTarget.TypeParameter, variant, layout, format, grouped);

    /// <summary>
    /// Runs the problem: <paramref name="a"/> I8 [rows, Kp] with <paramref name="aScales"/> [rows] (rows = RowsBound for
    /// prefix sums, E · P padded), <paramref name="w"/> I8 [E, Np, Kp] or U8 [E, Np, Kp / 2], <paramref name="wScales"/>
    /// [E, groups, Np], <paramref name="c"/> [rows, N] bf16 / fp16.
    /// </summary>
    public void Run(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, Tensor a, Tensor aScales, Tensor offsets,
        Tensor w, Tensor wScales, Tensor c)
    {
        ArgumentNullException.ThrowIfNull(stream);
        a.RequireRank(nameof(a), 2).Require(nameof(a), DType.I8).RequireDevice(nameof(a), stream.Device);
        int kp = checked((int)a.Dim(1));
        w.RequireRank(nameof(w), 3).RequireDevice(nameof(w), stream.Device);
        var format = w.DType == DType.I8 ? WeightOnlyFormat.Int8
            : w.DType == DType.U8 ? WeightOnlyFormat.Int4
            : throw new ArgumentException($"{nameof(w)} must be I8 or U8 [E, Np, row bytes], got {w}", nameof(w));
        int np = checked((int)w.Dim(1));
        if (w.Dim(0) != experts || w.Dim(2) != Int8ActPacking.RowBytes(format, kp) || np % Int8ActPacking.Block != 0)
            throw new ArgumentException($"{nameof(w)} must be [{experts}, Np (multiple of 128), {Int8ActPacking.RowBytes(format, kp)}], got {w}", nameof(w));
        wScales.RequireRank(nameof(wScales), 3).Require(nameof(wScales), DType.F32).RequireDevice(nameof(wScales), stream.Device);
        long groups = wScales.Dim(1);
        if (wScales.Dim(0) != experts || wScales.Dim(2) != np || (groups != 1 && groups != kp / Int8ActPacking.Block))
            throw new ArgumentException($"{nameof(wScales)} must be [{experts}, 1 or {kp / Int8ActPacking.Block}, {np}], got {wScales}", nameof(wScales));
        int rows = layout == TokenLayout.PrefixSum ? rowsBound : checked(experts * rowsBound);
        int n = checked((int)c.Dim(1));
        if (c.Rows < rows || Fp8Quant.Pad128(n) != np || !c.DType.IsHalfPrecisionFloat())
            throw new ArgumentException($"{nameof(c)} must be bf16/fp16 [>= {rows}, N] with Pad128(N) = {np}, got {c}", nameof(c));
        if (a.Rows < rows || aScales.Rows < rows)
            throw new ArgumentException($"{nameof(a)} and {nameof(aScales)} must hold >= {rows} rows, got {a} and {aScales}", nameof(a));
        offsets.Require(nameof(offsets), DType.I32, layout == TokenLayout.PrefixSum ? experts + 1 : experts).RequireDevice(nameof(offsets), stream.Device);
        if (rows == 0) return;
        RunCore(stream, layout, experts, rowsBound, rows, a, aScales, offsets, w, wScales, c, n, np, kp, format, groups > 1);
    }

    /// <summary>Compiles every kernel a run with these arguments can launch (both tiles), so nothing compiles inside a capture.</summary>
    public virtual void Prepare(DType output, TokenLayout layout, WeightOnlyFormat format, bool grouped) { }

    /// <summary>The backend's kernel behind <see cref="Run"/>, called once the arguments are checked.</summary>
    protected abstract void RunCore(ComputeStream stream, TokenLayout layout, int experts, int rowsBound, int rows, Tensor a, Tensor aScales,
        Tensor offsets, Tensor w, Tensor wScales, Tensor c, int n, int np, int kp, WeightOnlyFormat format, bool grouped);
}
