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

    private const int MantissaBits = 2;
    private const int MinNormalExponent = -14;

    /// <summary>As __nv_cvt_float_to_fp8(x, saturation, __NV_E5M2).</summary>
    public static byte FromFloat(float x, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        float.IsNaN(x) ? NaN : FromDouble(x, saturation);

    /// <summary>
    /// As __nv_cvt_double_to_fp8(x, saturation, __NV_E5M2). Differs from the float entry only on NaN:
    /// a double NaN keeps its sign and its top two payload bits, forced quiet (S.11111.1x).
    /// </summary>
    public static byte FromDouble(double x, Fp8Saturation saturation = Fp8Saturation.SatFinite)
    {
        byte sign = double.IsNegative(x) ? (byte)0x80 : (byte)0;
        if (double.IsNaN(x))
        {
            int payload = (int)(BitConverter.DoubleToUInt64Bits(x) >> 50) & 0x3;
            return (byte)(sign | 0x7E | payload);
        }
        double magnitude = Math.Abs(x);
        int code = double.IsInfinity(magnitude) ? int.MaxValue : MiniFloat.RoundToCode(magnitude, MantissaBits, MinNormalExponent);
        // Overflow starts at 61440, the midpoint between 57344 and 65536: a tie that goes to the even
        // neighbour, which is the (infinite) 65536, as in IEEE.
        if (code > MaxFinite) code = saturation == Fp8Saturation.SatFinite ? MaxFinite : Infinity;
        return (byte)(sign | code);
    }

    /// <summary>The exact value; NaN patterns give the NaN CUDA's host path gives (fp16 0x7FFF widened).</summary>
    public static float ToFloat(byte bits)
    {
        int code = bits & 0x7F;
        if (code > Infinity) return NarrowFloat.DecodedNaN;
        float v = code == Infinity ? float.PositiveInfinity : (float)MiniFloat.CodeValue(code, MantissaBits, MinNormalExponent);
        return (bits & 0x80) != 0 ? -v : v;
    }

    /// <summary>True for the NaN codes (exponent all ones, mantissa not zero).</summary>
    public static bool IsNaN(byte bits) => (bits & 0x7F) > Infinity;

    /// <see cref="FromFloat(float, Fp8Saturation)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void FromFloat(ReadOnlySpan<float> source, Span<byte> destination, Fp8Saturation saturation = Fp8Saturation.SatFinite) =>
        NarrowFloat.Convert(source, destination, x => FromFloat(x, saturation));

    /// <see cref="ToFloat(byte)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void ToFloat(ReadOnlySpan<byte> source, Span<float> destination) => NarrowFloat.Convert(source, destination, ToFloat);
}
