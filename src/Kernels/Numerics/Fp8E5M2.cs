namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// FP8 E5M2 (cuda_fp8.h's __nv_fp8_e5m2): 1 sign, 5 exponent (bias 15), 2 mantissa bits, laid out
/// exactly like the top byte of an IEEE fp16, with infinities (0x7C, 0xFC) and NaNs (exponent all ones,
/// mantissa non-zero). Largest finite value 57344 (0x7B).
/// Encoding rounds to nearest, ties to even, exactly as __nv_cvt_float_to_fp8 / __nv_cvt_double_to_fp8.
/// </summary>
public static class Fp8E5M2
{
    /// <summary>Code of +57344, the largest finite value.</summary>
    public const byte MaxFinite = 0x7B;
    /// <summary>Code of +infinity.</summary>
    public const byte Infinity = 0x7C;
    /// <summary>The NaN a float NaN encodes to (the float is first made the canonical 0x7FFFFFFF).</summary>
    public const byte NaN = 0x7F;
    /// <summary>The largest finite magnitude.</summary>
    public const float MaxValue = 57344f;

    private static readonly MiniFloat Format = new(MantissaBits: 2, MinNormalExponent: -14, SignBit: 0x80, MaxFinite);

    /// <summary>As __nv_cvt_float_to_fp8(x, saturation, __NV_E5M2).</summary>
    public static byte FromFloat(float x, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        float.IsNaN(x) ? NaN : FromDouble(x, saturation);

    /// <summary>
    /// As __nv_cvt_double_to_fp8(x, saturation, __NV_E5M2). Differs from the float entry only on NaN:
    /// a double NaN keeps its sign and its top two payload bits, forced quiet (S.11111.1x).
    /// </summary>
    public static byte FromDouble(double x, Fp8Saturation saturation = Fp8Saturation.SatFinite)
    {
        if (double.IsNaN(x))
        {
            int sign = double.IsNegative(x) ? 0x80 : 0, payload = (int)(BitConverter.DoubleToUInt64Bits(x) >> 50) & 0x3;
            return (byte)(sign | 0x7E | payload);
        }
        // Overflow starts at 61440, the midpoint between 57344 and 65536: a tie that goes to the even
        // neighbour, which is the (infinite) 65536, as in IEEE.
        return Format.Encode(x, saturation == Fp8Saturation.SatFinite ? MaxFinite : Infinity);
    }

    /// <summary>The exact value; NaN patterns give the NaN CUDA's host path gives (fp16 0x7FFF widened).</summary>
    public static float ToFloat(byte bits) => (bits & 0x7F) switch
    {
        > Infinity => NarrowFloat.DecodedNaN,
        Infinity => (bits & 0x80) != 0 ? float.NegativeInfinity : float.PositiveInfinity,
        _ => Format.Decode(bits),
    };

    /// <summary>True for the NaN codes (exponent all ones, mantissa not zero).</summary>
    public static bool IsNaN(byte bits) => (bits & 0x7F) > Infinity;

    /// <see cref="FromFloat(float, Fp8Saturation)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void FromFloat(ReadOnlySpan<float> source, Span<byte> destination, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        NarrowFloat.Convert(source, destination, x => FromFloat(x, saturation));

    /// <see cref="ToFloat(byte)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void ToFloat(ReadOnlySpan<byte> source, Span<float> destination) => NarrowFloat.Convert(source, destination, ToFloat);
}
