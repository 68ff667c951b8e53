namespace GraphEngine.Tests.Kernels.Numerics;

/// <summary>
/// An independent rounding oracle for the tests: nearest value by search over the format's value
/// table, ties to the even code. It shares nothing with the encoders' arithmetic.
/// </summary>
internal static class NarrowOracle
{
    /// <summary>
    /// Code of the value nearest to <paramref name="magnitude"/> (>= 0, finite) among
    /// <paramref name="values"/> (indexed by code, ascending) and a virtual <paramref name="next"/> at
    /// code values.Length; returning values.Length means overflow.
    /// </summary>
    public static int Nearest(double magnitude, double[] values, double next)
    {
        if (magnitude >= next) return values.Length;
        // Index of the largest value <= magnitude.
        int i = Array.BinarySearch(values, magnitude);
        if (i < 0) i = ~i - 1;
        double lower = values[i], upper = i + 1 < values.Length ? values[i + 1] : next;
        double below = magnitude - lower, above = upper - magnitude;
        if (below < above) return i;
        if (above < below) return i + 1;
        return (i & 1) == 0 ? i : i + 1;
    }

    /// <summary>Every fp16 pattern as a float, NaNs left out: inputs dense across the fp8 and fp4 ranges.</summary>
    public static IEnumerable<float> F16Inputs() =>
        Enumerable.Range(0, 65536).Select(i => (float)BitConverter.UInt16BitsToHalf((ushort)i)).Where(f => !float.IsNaN(f));

    /// <summary>Every tie between neighbouring values (and the next value up), with the floats either side.</summary>
    public static IEnumerable<float> Ties(double[] values, double next)
    {
        for (int i = 0; i < values.Length; i++)
        {
            float mid = (float)((values[i] + (i + 1 < values.Length ? values[i + 1] : next)) / 2);
            foreach (var v in new[] { mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                yield return v;
                yield return -v;
            }
        }
    }

    /// <summary>
    /// An fp8 encoder against <see cref="Nearest"/> on every fp16 input and every tie of <paramref name="values"/>,
    /// in both modes: a code past the largest finite one becomes <paramref name="maxFinite"/> under SatFinite and
    /// <paramref name="noSatOverflow"/> under NoSat, with the input's sign.
    /// </summary>
    public static void AssertFp8NearestEven(Func<float, Fp8Saturation, byte> encode, double[] values, double next, int maxFinite, int noSatOverflow)
    {
        foreach (var x in F16Inputs().Concat(Ties(values, next)))
        {
            int code = Nearest(Math.Abs(x), values, next);
            int sign = float.IsNegative(x) ? 0x80 : 0;
            bool overflow = code > maxFinite;
            if ((sign | (overflow ? maxFinite : code)) != encode(x, Fp8Saturation.SatFinite)) Assert.Fail($"satfinite {x:R}");
            if ((sign | (overflow ? noSatOverflow : code)) != encode(x, Fp8Saturation.NoSat)) Assert.Fail($"nosat {x:R}");
        }
    }

    /// <summary>Each of <paramref name="overflowing"/>, and its negation, encodes to the two modes' overflow codes with its sign.</summary>
    public static void AssertFp8Overflow(Func<float, Fp8Saturation, byte> encode, IEnumerable<float> overflowing, int satFinite, int noSat)
    {
        foreach (var x in overflowing)
        {
            Assert.Equal(satFinite, encode(x, Fp8Saturation.SatFinite));
            Assert.Equal(noSat, encode(x, Fp8Saturation.NoSat));
            Assert.Equal(0x80 | satFinite, encode(-x, Fp8Saturation.SatFinite));
            Assert.Equal(0x80 | noSat, encode(-x, Fp8Saturation.NoSat));
        }
    }
}
