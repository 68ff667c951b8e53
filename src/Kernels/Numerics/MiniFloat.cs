namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// The rounding engine behind the narrow float formats (e4m3, e5m2, e2m1). A narrow format with
/// <c>m</c> explicit mantissa bits and smallest normal exponent <c>emin</c> is a grid of step
/// 2^(max(e, emin) - m) in each binade; its magnitude codes (exponent field, mantissa field) are
/// monotone in the value, so "round to the nearest grid point, ties to even" is one Math.Round on an
/// exactly scaled double, and the code follows by arithmetic. Overflow, infinity and NaN are the
/// format's own business and stay in the format types.
/// </summary>
internal static class MiniFloat
{
    /// <summary>
    /// The magnitude code of <paramref name="magnitude"/> (finite, >= 0) rounded to nearest even, as if
    /// the exponent range had no top: a result above the format's largest finite code means overflow.
    /// Values at or below half the smallest subnormal round to code 0, as CUDA's converters do.
    /// </summary>
    public static int RoundToCode(double magnitude, int mantissaBits, int minNormalExponent)
    {
        if (magnitude == 0) return 0;
        // Above 2^64 every narrow format has long overflowed; capping keeps the code arithmetic small.
        if (magnitude >= 18446744073709551616.0) return int.MaxValue;
        int e = Math.Max(Math.ILogB(magnitude), minNormalExponent);
        // Dividing by a power of two is exact here (the quotient is below 2^(m+1) and far from
        // double's subnormals), so the only rounding is Math.Round's, which breaks ties to even.
        double steps = Math.Round(Math.ScaleB(magnitude, mantissaBits - e), MidpointRounding.ToEven);
        // In the subnormal binade e == emin and steps < 2^m, which the same formula maps to exponent
        // field 0; steps == 2^(m+1) carries into the next binade's code.
        return ((e - minNormalExponent + 1) << mantissaBits) + (int)steps - (1 << mantissaBits);
    }

    /// <summary>The value of magnitude code <paramref name="code"/> (exact in double and in float).</summary>
    public static double CodeValue(int code, int mantissaBits, int minNormalExponent)
    {
        int field = code >> mantissaBits;
        int mantissa = code & ((1 << mantissaBits) - 1);
        return field == 0
            ? Math.ScaleB(mantissa, minNormalExponent - mantissaBits)
            : Math.ScaleB((1 << mantissaBits) + mantissa, field - 1 + minNormalExponent - mantissaBits);
    }
}
