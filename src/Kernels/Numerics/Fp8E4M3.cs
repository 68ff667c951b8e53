namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// FP8 E4M3, the "fn" (finite) variant of cuda_fp8.h's __nv_fp8_e4m3: 1 sign, 4 exponent (bias 7),
/// 3 mantissa bits. It gives the all-ones exponent back to ordinary numbers instead of spending it on
/// infinities, which doubles the top binade and lifts the largest value to 448 (an IEEE-like layout
/// would stop at 240). So there is no infinity, and only S.1111.111 (0x7F, 0xFF) is NaN.
/// Encoding rounds to nearest, ties to even, exactly as __nv_cvt_float_to_fp8 / __nv_cvt_double_to_fp8.
/// </summary>
public static class Fp8E4M3
{
    /// <summary>Code of +448, the largest finite value.</summary>
    public const byte MaxFinite = 0x7E;
    /// <summary>The positive NaN code (0xFF is the negative one).</summary>
    public const byte NaN = 0x7F;
    /// <summary>The largest finite magnitude.</summary>
    public const float MaxValue = 448f;

    private static readonly MiniFloat Format = new(MantissaBits: 3, MinNormalExponent: -6, SignBit: 0x80, MaxFinite);

    /// <summary>As __nv_cvt_float_to_fp8(x, saturation, __NV_E4M3).</summary>
    public static byte FromFloat(float x, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        // CUDA swaps any float NaN for the positive canonical one before converting (and the device's
        // cvt.rn.satfinite does the same), so sign and payload are lost.
        float.IsNaN(x) ? NaN : FromDouble(x, saturation);

    /// <summary>
    /// As __nv_cvt_double_to_fp8(x, saturation, __NV_E4M3). It differs from the float entry only on NaN:
    /// a double NaN keeps its sign (0xFF for a negative NaN), a float NaN never does.
    /// </summary>
    public static byte FromDouble(double x, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        double.IsNaN(x) ? (byte)(double.IsNegative(x) ? 0x80 | NaN : NaN)
        // Rounding past 448 (anything above 464, the midpoint to the would-be 480) overflows; with no
        // infinity to go to, NOSAT can only say NaN.
        : Format.Encode(x, saturation == Fp8Saturation.SatFinite ? MaxFinite : NaN);

    /// <summary>The exact value; NaN patterns give the NaN CUDA's host path gives (fp16 0x7FFF widened).</summary>
    public static float ToFloat(byte bits) => Decoded[bits];

    /// <summary>Every code's value, made once by the format's decoder (after <see cref="Format"/>, which it needs): the
    /// checks decode a block scale per 16 weights of every expert, and a lookup is ten times cheaper than decoding.</summary>
    private static readonly float[] Decoded = Enumerable.Range(0, 256)
        .Select(b => IsNaN((byte)b) ? NarrowFloat.DecodedNaN : Format.Decode((byte)b)).ToArray();

    /// <summary>True for the NaN codes 0x7F and 0xFF.</summary>
    public static bool IsNaN(byte bits) => (bits & 0x7F) == NaN;

    /// <see cref="FromFloat(float, Fp8Saturation)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void FromFloat(ReadOnlySpan<float> source, Span<byte> destination, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        NarrowFloat.Convert(source, destination, x => FromFloat(x, saturation));

    /// <see cref="ToFloat(byte)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void ToFloat(ReadOnlySpan<byte> source, Span<float> destination) => NarrowFloat.Convert(source, destination, ToFloat);
}
