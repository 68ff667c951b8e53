namespace GraphEngine.Kernels.Fp8;

/// <summary>
/// TEMPORARY: host e4m3 / e2m1 conversions until src/Kernels/Numerics (branch numerics) provides them;
/// then every caller switches to those and this file goes. Semantics are those of cuda_fp8.h /
/// cuda_fp4.h: round to nearest even, saturate to the largest finite value (448 / 6), NaN to 0x7F.
/// </summary>
internal static class FormatShim
{
    public static byte E4M3FromFloat(float f)
    {
        if (float.IsNaN(f)) return 0x7F;
        byte sign = (byte)(f < 0 || (f == 0 && float.IsNegative(f)) ? 0x80 : 0);
        double a = Math.Abs((double)f);
        byte mag;
        if (a >= 448) mag = 0x7E;
        else if (a < 1.0 / 64)
        {
            // Subnormal: value = m * 2^-9; m = 8 rounds up into the smallest normal, whose bits are 0x08.
            mag = (byte)Math.Round(a * 512, MidpointRounding.ToEven);
        }
        else
        {
            int e = (int)Math.Floor(Math.Log2(a));
            if (Math.ScaleB(1, e) > a) e--;
            if (Math.ScaleB(1, e + 1) <= a) e++;
            double m = Math.Round((a / Math.ScaleB(1, e) - 1) * 8, MidpointRounding.ToEven);
            int bits = ((e + 7) << 3) + (int)m;
            mag = (byte)Math.Min(bits, 0x7E);
        }
        return (byte)(sign | mag);
    }

    public static float E4M3ToFloat(byte b)
    {
        int e = (b >> 3) & 0xF, m = b & 7;
        float sign = (b & 0x80) != 0 ? -1f : 1f;
        if (e == 15 && m == 7) return float.NaN;
        return e == 0 ? sign * m * (1f / 512) : sign * (1 + m / 8f) * MathF.ScaleB(1, e - 7);
    }

    private static readonly float[] E2M1Values = { 0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f };

    public static byte E2M1FromFloat(float f)
    {
        byte sign = (byte)(f < 0 || (f == 0 && float.IsNegative(f)) ? 8 : 0);
        float a = MathF.Abs(f);
        // Midpoints between neighbours; a tie goes to the code with an even (zero) mantissa bit.
        byte code = a switch
        {
            <= 0.25f => 0,
            < 0.75f => 1,
            <= 1.25f => 2,
            < 1.75f => 3,
            <= 2.5f => 4,
            < 3.5f => 5,
            <= 5f => 6,
            _ => 7,
        };
        return (byte)(sign | code);
    }

    public static float E2M1ToFloat(byte nibble)
    {
        float v = E2M1Values[nibble & 7];
        return (nibble & 8) != 0 ? -v : v;
    }
}
