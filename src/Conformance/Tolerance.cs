using GraphEngine.Kernels;

namespace GraphEngine.Conformance;

/// <summary>
/// How far a kernel's output may be from a float64 oracle that rounds nothing, derived from the output
/// type and the number of roundings between the oracle's inputs and the output.
/// </summary>
/// <remarks>
/// One rounding to nearest moves a value by at most u relative (the unit roundoff: 2^-8 for bf16, 2^-11
/// for fp16), so after one rounding ||a - e||_F &lt;= u·||e||_F exactly. R independent roundings of random
/// data add in quadrature: sqrt(R)·u (R·u would need every error to point the same way). fp32 accumulation
/// adds <see cref="Accumulation"/>. Per element, the last rounding is at most half an ulp of the output
/// (<see cref="Ulps"/> = 1 also admits a second rounding in an epilogue or a value on a binade boundary);
/// the R - 1 earlier roundings reach the output as sums of many independent errors, each at most u of the
/// value it rounds, so they are measured against the row's RMS: at most 5·sqrt(R - 1)·u of it, which is
/// more than 8 standard deviations of such a sum (an element error of a wrong kernel is of the order of the
/// RMS itself). A case whose oracle reproduces a rounding of the kernel (for example the e4m3 quantization
/// of activations, where it must see the kernel's own bf16 inputs) does not count that rounding.
/// </remarks>
/// <param name="Output">Type of the compared output (its ulp is what the per-element bound counts).</param>
/// <param name="Roundings">Roundings on the longest path from the oracle's inputs to the output, the final one included.</param>
/// <param name="Reason">Where the roundings are, stated next to the case.</param>
/// <param name="Ulps">Per-element allowance in ulps of the output at the expected value.</param>
/// <param name="Accumulation">fp32 accumulation and scaling error relative to the RMS (and to the norm).</param>
public sealed record Tolerance(DType Output, int Roundings, string Reason, double Ulps = 1, double Accumulation = Tolerance.Fp32Accumulation)
{
    /// <summary>
    /// fp32 accumulation of a K-long dot product errs by about sqrt(K)·2^-24 of the result's RMS (under 1e-5
    /// for K &lt;= 8192, even summed in order); 1e-4 leaves room for split-K and scale multiplies.
    /// </summary>
    public const double Fp32Accumulation = 1e-4;

    /// <summary>One rounding of a product accumulated in fp32: GEMMs, RMSNorm, quantized GEMMs against their quantized operands.</summary>
    public static Tolerance OneRounding(DType output, string reason) => new(output, 1, reason);

    /// <summary>
    /// A cuBLASLt product with its bias epilogue: on the H200 the product is rounded before the bias is added and the
    /// sum rounded again (where bias and product nearly cancel, elements err by an ulp of the product, not of the
    /// output: seen at 65 ulps of a small output with the one-rounding bound), so two roundings.
    /// </summary>
    public static Tolerance BiasEpilogue(DType output) =>
        new(output, 2, "fp32 accumulation, the product rounded, then the bias added and rounded (cuBLASLt's bias epilogue)");

    /// <summary>
    /// fp8 (e4m3) tensor-core MMA: exact products, but the Hopper accumulator keeps about 14 bits inside an MMA chain
    /// (DeepSeek-V3 technical report, section 3.3.2; kernels promote to fp32 every 128 elements of K at the latest),
    /// so elements err by a few thousandths of the row's RMS, as a second rounding would (seen on the H200: up to
    /// 3.6 times the one-rounding element bound). Counted as two roundings.
    /// </summary>
    public static Tolerance Fp8TensorCore(DType output) =>
        new(output, 2, "exact e4m3 products, fp8 tensor-core accumulation (about 14 bits per MMA chain), fp32 scales, one output rounding");

    /// <summary>
    /// The group GEMM's fused SwiGLU epilogue: fp32 sums, the gate and the up sum each rounded to the output type (as the
    /// unfused product stores them), silu(g)·u in fp32 rounded once: two roundings on the longest path, the unfused
    /// path's product and SwiGLU roundings, so a layer that fuses counts the same as one that does not. Per element the
    /// earlier roundings reach each output directly, not as sums of many: up's relative error (up to u) is up to one ulp
    /// of the output, gate's up to 1.28 ulps (silu'(g)·g / silu(g) &lt;= 1.28 for g &gt;= 0; for g &lt; 0 the error is
    /// at most 0.27·u·|up| absolute, which the RMS term covers), and the final rounding half an ulp: 3 ulps.
    /// </summary>
    public static Tolerance SwiGluEpilogue(DType output) =>
        new(output, 2, "fp32 sums, gate and up each rounded, silu(g)·u in fp32 rounded once (the unfused product's and SwiGLU's roundings)", Ulps: 3);

    /// <summary>Unit roundoff of <see cref="Output"/>: the largest relative error of one rounding to nearest.</summary>
    public double UnitRoundoff => Output switch
    {
        DType.BF16 => Math.ScaleB(1, -8),
        DType.F16 => Math.ScaleB(1, -11),
        DType.F32 => Math.ScaleB(1, -24),
        _ => throw new InvalidOperationException($"no unit roundoff for {Output}"),
    };

    /// <summary>Bound on ||a - e||_F / ||e||_F.</summary>
    public double Frobenius => Math.Sqrt(Roundings) * UnitRoundoff + Accumulation;

    /// <summary>Fraction of the row's RMS each element may add to its ulps.</summary>
    public double RmsFraction => Accumulation + 5 * Math.Sqrt(Roundings - 1) * UnitRoundoff;

    /// <summary>"bf16, 3 roundings: ..." for case details.</summary>
    public string Describe() =>
        $"{(Output == DType.BF16 ? "bf16" : Output == DType.F16 ? "fp16" : "fp32")}, {Roundings} rounding{(Roundings == 1 ? "" : "s")}: {Reason}";
}
