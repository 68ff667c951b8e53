namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// The rounding engine behind the narrow float formats (e4m3, e5m2, e2m1). A narrow format with
/// <c>m</c> explicit mantissa bits and smallest normal exponent <c>emin</c> is a grid of step
/// 2^(max(e, emin) - m) in each binade; its magnitude codes (exponent field, mantissa field) are
/// monotone in the value, so "round to the nearest grid point, ties to even" is one Math.Round on an
/// exactly scaled double, and the code follows by arithmetic. NaN, and what overflow turns into, are
/// the format's own business and stay in the format types.
/// </summary>
/// <param name="MantissaBits">Explicit mantissa bits, <c>m</c>.</param>
/// <param name="MinNormalExponent">Smallest normal exponent, <c>emin</c> (1 - bias).</param>
/// <param name="SignBit">The sign bit's mask; the bits below it hold the magnitude code.</param>
/// <param name="MaxFinite">The largest finite magnitude code.</param>
internal readonly record struct MiniFloat(int MantissaBits, int MinNormalExponent, int SignBit, int MaxFinite)
{
    /// <summary>
    /// The sign and rounded magnitude code of <paramref name="x"/> (not NaN); a code past
    /// <see cref="MaxFinite"/> (infinity included) becomes <paramref name="overflowCode"/>.
    /// </summary>
    public byte Encode(double x, int overflowCode)
    {
        int sign = double.IsNegative(x) ? SignBit : 0;
        double magnitude = Math.Abs(x);
        int code = double.IsInfinity(magnitude) ? int.MaxValue : RoundToCode(magnitude);
        return (byte)(sign | (code > MaxFinite ? overflowCode : code));
    }

    /// <summary>The exact value of <paramref name="bits"/>, whose magnitude code is a finite one.</summary>
    public float Decode(int bits)
    {
        float v = (float)CodeValue(bits & (SignBit - 1));
        return (bits & SignBit) != 0 ? -v : v;
    }

    /// <summary>
    /// The magnitude code of <paramref name="magnitude"/> (finite, >= 0) rounded to nearest even, as if
    /// the exponent range had no top: a result above the format's largest finite code means overflow.
    /// Values at or below half the smallest subnormal round to code 0, as CUDA's converters do.
    /// </summary>
    public int RoundToCode(double magnitude)
    {
        if (magnitude == 0) return 0;
        // Above 2^64 every narrow format has long overflowed; capping keeps the code arithmetic small.
        if (magnitude >= 18446744073709551616.0) return int.MaxValue;
        int e = Math.Max(Math.ILogB(magnitude), MinNormalExponent);
        // Dividing by a power of two is exact here (the quotient is below 2^(m+1) and far from
        // double's subnormals), so the only rounding is Math.Round's, which breaks ties to even.
        double steps = Math.Round(Math.ScaleB(magnitude, MantissaBits - e), MidpointRounding.ToEven);
        // In the subnormal binade e == emin and steps < 2^m, which the same formula maps to exponent
        // field 0; steps == 2^(m+1) carries into the next binade's code.
        return ((e - MinNormalExponent + 1) << MantissaBits) + (int)steps - (1 << MantissaBits);
    }

    /// <summary>The value of magnitude code <paramref name="code"/> (exact in double and in float).</summary>
    public double CodeValue(int code)
    {
        int field = code >> MantissaBits;
        int mantissa = code & ((1 << MantissaBits) - 1);
        return field == 0
            ? Math.ScaleB(mantissa, MinNormalExponent - MantissaBits)
            : Math.ScaleB((1 << MantissaBits) + mantissa, field - 1 + MinNormalExponent - MantissaBits);
    }
}
