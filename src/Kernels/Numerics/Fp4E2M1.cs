namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// FP4 E2M1 (cuda_fp4.h's __nv_fp4_e2m1, the element type of NVFP4 / MXFP4): 1 sign, 2 exponent
/// (bias 1), 1 mantissa bit; values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}. With sixteen codes there is no room
/// for infinity or NaN, so every code is a number and out-of-range inputs must land on one.
/// A nibble holds one element; a byte holds two, element 0 in the LOW nibble (as cuda_fp4.h's
/// __nv_cvt_float2_to_fp4x2 packs x.x, and as the nvfp4 kernels read them).
/// </summary>
public static class Fp4E2M1
{
    /// <summary>Code of +6, the largest value.</summary>
    public const byte MaxFinite = 0x7;
    /// <summary>The largest magnitude.</summary>
    public const float MaxValue = 6f;

    private static readonly MiniFloat Format = new(MantissaBits: 1, MinNormalExponent: 0, SignBit: 0x8, MaxFinite);

    private static readonly float[] Values = BuildValues();

    /// <summary>
    /// As __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest): nearest, ties to even; anything above 6
    /// (and ±infinity) saturates to ±6; NaN becomes +6 (0x7). Float and double inputs behave the same.
    /// </summary>
    /// <remarks>Compares against the grid's midpoints instead of going through the general double rounding: a
    /// float widens to double exactly and every midpoint is exact, so the result is the same and a quantizer
    /// over millions of weights stays cheap. Ties go to the even code: 0.25 -> 0, 0.75 -> 1.0, 1.25 -> 1.0,
    /// 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4 (codes 0, 2, 2, 4, 4, 6, 6).</remarks>
    public static byte FromFloat(float x)
    {
        if (float.IsNaN(x)) return MaxFinite;
        float m = MathF.Abs(x);
        int code = m <= 0.25f ? 0 : m < 0.75f ? 1 : m <= 1.25f ? 2 : m < 1.75f ? 3
            : m <= 2.5f ? 4 : m < 3.5f ? 5 : m <= 5f ? 6 : MaxFinite;
        return (byte)(code | (int)((uint)BitConverter.SingleToInt32Bits(x) >> 31 << 3));
    }

    /// <summary>As __nv_cvt_double_to_fp4(x, __NV_E2M1, cudaRoundNearest).</summary>
    public static byte FromDouble(double x)
    {
        // CUDA's converter has only one out-of-range answer (the largest magnitude), and it drops the
        // sign of a NaN, so NaN reads back as +6 and a quantizer that meets one does not flip signs.
        return double.IsNaN(x) ? MaxFinite : Format.Encode(x, overflowCode: MaxFinite);
    }

    /// <summary>The exact value of the low nibble of <paramref name="nibble"/>.</summary>
    public static float ToFloat(byte nibble) => Values[nibble & 0xF];

    /// <summary>Encodes pairs of values into bytes, element 2i in the low nibble of byte i.</summary>
    public static void Pack(ReadOnlySpan<float> values, Span<byte> destination)
    {
        if ((values.Length & 1) != 0)
            throw new ArgumentException($"fp4 packs two values per byte; got an odd count {values.Length}", nameof(values));
        if (destination.Length < values.Length / 2)
            throw new ArgumentException($"{nameof(destination)} holds {destination.Length} bytes, {values.Length} values need {values.Length / 2}", nameof(destination));
        for (int i = 0; i < values.Length / 2; i++)
            destination[i] = (byte)(FromFloat(values[2 * i]) | (FromFloat(values[2 * i + 1]) << 4));
    }

    /// <summary>Decodes every nibble of <paramref name="packed"/>, low nibble first.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, Span<float> destination)
    {
        if (destination.Length < packed.Length * 2)
            throw new ArgumentException($"{nameof(destination)} holds {destination.Length} values, {packed.Length} bytes hold {packed.Length * 2}", nameof(destination));
        for (int i = 0; i < packed.Length; i++)
        {
            destination[2 * i] = Values[packed[i] & 0xF];
            destination[2 * i + 1] = Values[packed[i] >> 4];
        }
    }

    private static float[] BuildValues()
    {
        var v = new float[16];
        for (int bits = 0; bits < 16; bits++) v[bits] = Format.Decode(bits);
        return v;
    }
}
