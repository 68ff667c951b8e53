using System.Numerics;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Numerics;

/// <summary>Error measures used by tests and `graphengine check`.</summary>
/// <remarks>
/// Large inputs are summed in fixed chunks of <see cref="Chunk"/> elements, in parallel, and the chunks'
/// partial sums are added in chunk order: the result depends only on the data, never on the core count
/// or the thread schedule.
/// </remarks>
public static unsafe class ErrorMetrics
{
    /// <summary>Elements per partial sum (and per parallel task) of the Frobenius norms.</summary>
    private const int Chunk = 1 << 16;

    /// <summary>||actual - expected||_F / ||expected||_F, in float64. NaN if any actual value is not finite.</summary>
    public static double RelativeFrobenius(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual) =>
        Relative<double, float>(expected, actual, Squares);

    /// <summary>
    /// ||actual - expected||_F / ||expected||_F, in float64 (each float is converted exactly); NaN if any
    /// actual value is not finite. The same figure as the overload with a double <paramref name="expected"/>
    /// holding the same values, without a float64 copy of it.
    /// </summary>
    public static double RelativeFrobenius(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual) =>
        Relative<float, float>(expected, actual, Squares);

    /// <summary>||actual - expected||_F / ||expected||_F in float64; NaN if any actual value is not finite.</summary>
    public static double RelativeFrobenius(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual) =>
        Relative<double, double>(expected, actual, Squares);

    private delegate (double Num, double Den, bool Finite) SquaresOf<TE, TA>(ReadOnlySpan<TE> expected, ReadOnlySpan<TA> actual);

    /// <summary>The relative Frobenius error of any element types, chunked through <paramref name="squares"/>.</summary>
    private static double Relative<TE, TA>(ReadOnlySpan<TE> expected, ReadOnlySpan<TA> actual, SquaresOf<TE, TA> squares)
        where TE : unmanaged where TA : unmanaged
    {
        if (expected.Length != actual.Length)
            throw new ArgumentException($"expected {expected.Length} values, actual {actual.Length}");
        fixed (TE* e = expected)
        fixed (TA* a = actual)
        {
            nint ep = (nint)e, ap = (nint)a;
            return Combine(expected.Length, (start, count) =>
                squares(new ReadOnlySpan<TE>((TE*)ep + start, count), new ReadOnlySpan<TA>((TA*)ap + start, count)));
        }
    }

    /// <summary>
    /// Partial sums (Σ d², Σ e², finite) of every chunk, in parallel when there are several, then added in
    /// chunk order; NaN when a chunk saw a non-finite actual value.
    /// </summary>
    private static double Combine(int length, Func<int, int, (double Num, double Den, bool Finite)> chunk)
    {
        int chunks = (length + Chunk - 1) / Chunk;
        var parts = new (double Num, double Den, bool Finite)[chunks];
        if (chunks <= 1)
        {
            if (chunks == 1) parts[0] = chunk(0, length);
        }
        else
        {
            Parallel.For(0, chunks, c => parts[c] = chunk(c * Chunk, Math.Min(Chunk, length - c * Chunk)));
        }
        double num = 0, den = 0;
        foreach (var p in parts)
        {
            if (!p.Finite) return double.NaN;
            num += p.Num;
            den += p.Den;
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    private static (double, double, bool) Squares(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        var sums = new SquareSums();
        int i = 0;
        if (Vector.IsHardwareAccelerated && actual.Length >= Vector<float>.Count)
        {
            var ve = MemoryMarshal.Cast<double, Vector<double>>(expected);
            var va = MemoryMarshal.Cast<float, Vector<float>>(actual);
            for (int v = 0; v < va.Length; v++)
                if (!sums.Add(va[v], ve[2 * v], ve[2 * v + 1])) return (0, 0, false);
            i = va.Length * Vector<float>.Count;
        }
        sums.FoldLanes();
        for (; i < actual.Length; i++)
            if (!sums.Add(actual[i], expected[i])) return (0, 0, false);
        return sums.Result();
    }

    private static (double, double, bool) Squares(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        var sums = new SquareSums();
        int i = 0;
        if (Vector.IsHardwareAccelerated && actual.Length >= Vector<float>.Count)
        {
            var ve = MemoryMarshal.Cast<float, Vector<float>>(expected);
            var va = MemoryMarshal.Cast<float, Vector<float>>(actual);
            for (int v = 0; v < va.Length; v++)
            {
                Vector.Widen(ve[v], out var e0, out var e1);
                if (!sums.Add(va[v], e0, e1)) return (0, 0, false);
            }
            i = va.Length * Vector<float>.Count;
        }
        sums.FoldLanes();
        for (; i < actual.Length; i++)
            if (!sums.Add(actual[i], expected[i])) return (0, 0, false);
        return sums.Result();
    }

    /// <summary>
    /// Σ(a − e)² and Σe² in double for the two Squares above: four vector lanes of partial sums (the widened halves of
    /// a float vector), folded into the totals before the scalar tail adds to them in order; false at the first
    /// non-finite actual value (Inf − Inf and NaN are NaN).
    /// </summary>
    private struct SquareSums
    {
        private Vector<double> _n0, _n1, _d0, _d1;
        private double _num, _den;

        public bool Add(Vector<float> actual, Vector<double> e0, Vector<double> e1)
        {
            if (!Vector.EqualsAll(actual - actual, Vector<float>.Zero)) return false;
            Vector.Widen(actual, out var a0, out var a1);
            var x0 = a0 - e0;
            var x1 = a1 - e1;
            _n0 += x0 * x0;
            _n1 += x1 * x1;
            _d0 += e0 * e0;
            _d1 += e1 * e1;
            return true;
        }

        public bool Add(float actual, double expected)
        {
            if (!float.IsFinite(actual)) return false;
            double d = actual - expected;
            _num += d * d;
            _den += expected * expected;
            return true;
        }

        public void FoldLanes()
        {
            _num = Vector.Sum(_n0 + _n1);
            _den = Vector.Sum(_d0 + _d1);
        }

        public readonly (double, double, bool) Result() => (_num, _den, true);
    }

    private static (double, double, bool) Squares(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        double num = 0, den = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!double.IsFinite(actual[i])) return (0, 0, false);
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return (num, den, true);
    }

    /// <summary>
    /// The spacing of <paramref name="type"/>'s values at |<paramref name="x"/>| (bf16: 8 significant bits,
    /// fp16: 11 with subnormals below 2^-14, fp32: 24): half of it is the largest error of one rounding to
    /// nearest. At 0 it is the smallest positive step.
    /// </summary>
    public static double Ulp(double x, DType type)
    {
        var (bits, minExponent) = type switch
        {
            DType.BF16 => (8, -126),
            DType.F16 => (11, -14),
            DType.F32 => (24, -126),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "ulp is defined for bf16, fp16 and fp32 outputs"),
        };
        double a = Math.Abs(x);
        int exponent = a == 0 || !double.IsFinite(a) ? minExponent : Math.Max(Math.ILogB(a), minExponent);
        return Math.ScaleB(1.0, exponent - (bits - 1));
    }

    /// <summary>
    /// The element that comes closest to (or furthest past) the per-element bound
    /// |a - e| &lt;= <paramref name="ulps"/> · ulp(e) + <paramref name="rmsFraction"/> · rms(e's row), where rows
    /// have <paramref name="cols"/> elements and ulp is <paramref name="type"/>'s spacing at e. Ratio &gt; 1 is a
    /// violation; a non-finite actual value has ratio +Inf. Rows run in parallel; ties go to the lowest index,
    /// so the answer does not depend on the schedule.
    /// </summary>
    public static ElementError WorstElement(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, int cols, DType type,
                                            double ulps, double rmsFraction) =>
        Worst(expected, actual, cols, type, ulps, rmsFraction);

    /// <summary><see cref="WorstElement(ReadOnlySpan{double}, ReadOnlySpan{float}, int, DType, double, double)"/> with float expected values.</summary>
    public static ElementError WorstElement(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, int cols, DType type,
                                            double ulps, double rmsFraction) =>
        Worst(expected, actual, cols, type, ulps, rmsFraction);

    private static ElementError Worst<TE>(ReadOnlySpan<TE> expected, ReadOnlySpan<float> actual, int cols, DType type, double ulps, double rmsFraction)
        where TE : unmanaged, INumberBase<TE>
    {
        if (expected.Length != actual.Length)
            throw new ArgumentException($"expected {expected.Length} values, actual {actual.Length}");
        if (cols <= 0 || expected.Length % cols != 0)
            throw new ArgumentException($"{expected.Length} values do not form rows of {cols}", nameof(cols));
        int rows = expected.Length / cols;
        var worst = new ElementError[rows];
        fixed (TE* e = expected)
        fixed (float* a = actual)
        {
            nint ep = (nint)e, ap = (nint)a;
            void Row(int r)
            {
                var er = new ReadOnlySpan<TE>((TE*)ep + (long)r * cols, cols);
                var ar = new ReadOnlySpan<float>((float*)ap + (long)r * cols, cols);
                double ss = 0;
                foreach (var v in er) ss += double.CreateTruncating(v) * double.CreateTruncating(v);
                double rms = Math.Sqrt(ss / cols);
                var best = new ElementError(-1, 0, 0, -1);
                for (int i = 0; i < cols; i++)
                {
                    double ev = double.CreateTruncating(er[i]);
                    double err = float.IsFinite(ar[i]) ? Math.Abs(ar[i] - ev) : double.PositiveInfinity;
                    double bound = ulps * Ulp(ev, type) + rmsFraction * rms;
                    double ratio = err / bound;
                    if (ratio > best.Ratio) best = new ElementError((long)r * cols + i, err, bound, ratio);
                }
                worst[r] = best;
            }
            if ((long)rows * cols < Chunk) for (int r = 0; r < rows; r++) Row(r);
            else Parallel.For(0, rows, Row);
        }
        var result = new ElementError(-1, 0, 0, -1);
        foreach (var w in worst) if (w.Ratio > result.Ratio) result = w;
        return result;
    }

    /// <summary>Index of the first non-finite value, or -1: an output element the kernel never wrote.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // x - x is 0 for every finite x and NaN for NaN and ±Inf.
            var v = MemoryMarshal.Cast<float, Vector<float>>(values);
            for (int j = 0; j < v.Length; j++)
                if (!Vector.EqualsAll(v[j] - v[j], Vector<float>.Zero)) { i = j * Vector<float>.Count; goto scalar; }
            i = v.Length * Vector<float>.Count;
        }
    scalar:
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>Number of positions where the two arrays differ bit for bit.</summary>
    public static int BitMismatches(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths {a.Length} and {b.Length} differ");
        // Equal bytes: no mismatch (the common case, vectorized); otherwise count them one by one.
        if (MemoryMarshal.AsBytes(a).SequenceEqual(MemoryMarshal.AsBytes(b))) return 0;
        int n = 0;
        for (int i = 0; i < a.Length; i++)
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) n++;
        return n;
    }
}

/// <summary>
/// One element's error against its bound: <see cref="Index"/> in the flattened tensor, |actual - expected|,
/// the bound there, and their ratio (&gt; 1 is a violation; -1 when there were no elements).
/// </summary>
public readonly record struct ElementError(long Index, double Error, double Bound, double Ratio);
