using System.Numerics;
using System.Runtime.InteropServices;

namespace GraphEngine.Conformance;

/// <summary>
/// The float64 arithmetic the oracles share: dot products of float/double spans accumulated in double
/// (each float-by-float product is exact in double, so only the accumulation rounds), and a partition of
/// an oracle's (row, column) outputs into parallel tasks. Every output element is one dot product with a
/// fixed summation order, so results do not depend on the thread schedule.
/// </summary>
internal static class Float64
{
    /// <summary>Σ a[i]·b[i] in double.</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths {a.Length} and {b.Length} differ");
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= 2 * Vector<float>.Count)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            Vector<double> acc0 = Vector<double>.Zero, acc1 = Vector<double>.Zero, acc2 = Vector<double>.Zero, acc3 = Vector<double>.Zero;
            int v = 0;
            for (; v + 1 < va.Length; v += 2)
            {
                Vector.Widen(va[v], out var a0, out var a1);
                Vector.Widen(vb[v], out var b0, out var b1);
                Vector.Widen(va[v + 1], out var a2, out var a3);
                Vector.Widen(vb[v + 1], out var b2, out var b3);
                acc0 += a0 * b0;
                acc1 += a1 * b1;
                acc2 += a2 * b2;
                acc3 += a3 * b3;
            }
            for (; v < va.Length; v++)
            {
                Vector.Widen(va[v], out var a0, out var a1);
                Vector.Widen(vb[v], out var b0, out var b1);
                acc0 += a0 * b0;
                acc1 += a1 * b1;
            }
            sum = Vector.Sum((acc0 + acc1) + (acc2 + acc3));
            i = va.Length * Vector<float>.Count;
        }
        for (; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }

    /// <summary>Σ a[i]·b[i] in double.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths {a.Length} and {b.Length} differ");
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && b.Length >= Vector<float>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            Vector<double> acc0 = Vector<double>.Zero, acc1 = Vector<double>.Zero;
            for (int v = 0; v < vb.Length; v++)
            {
                Vector.Widen(vb[v], out var b0, out var b1);
                acc0 += va[2 * v] * b0;
                acc1 += va[2 * v + 1] * b1;
            }
            sum = Vector.Sum(acc0 + acc1);
            i = vb.Length * Vector<float>.Count;
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Σ a[i]·b[i] in double.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths {a.Length} and {b.Length} differ");
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
            Vector<double> acc0 = Vector<double>.Zero, acc1 = Vector<double>.Zero;
            int v = 0;
            for (; v + 1 < va.Length; v += 2)
            {
                acc0 += va[v] * vb[v];
                acc1 += va[v + 1] * vb[v + 1];
            }
            if (v < va.Length) acc0 += va[v] * vb[v];
            sum = Vector.Sum(acc0 + acc1);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Rows of a per parallel task of <see cref="MatMulT"/> (a multiple of its 4-row tile).</summary>
    private const int RowBlock = 64;

    /// <summary>Elements of K summed in fp32 per lane before the partial moves to double (see <see cref="MatMulT"/>).</summary>
    private const int FlushLength = 256;

    /// <summary>
    /// c[i, j] = Σ_g aScale[i, g]·bScale[j, g]·Σ_{k in group g} a[i, k]·b[j, k] for a [rows, K], b [cols, K]
    /// (scales [rows or cols, K / group], null for 1; group 0 = all of K, else a multiple of 64 dividing K),
    /// with the oracle's accuracy at several times the speed of <see cref="Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>.
    /// </summary>
    /// <remarks>
    /// Every value of a and b must have at most 12 significant bits (bf16, fp16, int8/int4 codes, e4m3, e2m1
    /// times an e4m3 scale; checked): their products are then exact in fp32. Each lane adds at most 32 exact
    /// products in fp32 (error at most 32·2^-24 of their absolute sum) before the partial is added in double,
    /// so the result is within about 1e-7 of the row's RMS of the exact sum: four orders below the tightest
    /// bound it is compared with. Parallel over column blocks; every element's summation order is fixed.
    /// </remarks>
    public static double[] MatMulT(ReadOnlyMemory<float> a, int rows, ReadOnlyMemory<float> b, int cols, int k, int group = 0, float[]? aScales = null, float[]? bScales = null)
    {
        if ((long)rows * k != a.Length || (long)cols * k != b.Length)
            throw new ArgumentException($"a holds {a.Length} values (expected {rows}x{k}), b {b.Length} (expected {cols}x{k})");
        int g = group <= 0 ? k : group;
        if (k % g != 0 || (g != k && g % 64 != 0)) throw new ArgumentException($"group {group} must be a multiple of 64 dividing K = {k}", nameof(group));
        int groups = k / g;
        if (aScales is not null && aScales.Length != (long)rows * groups) throw new ArgumentException($"aScales holds {aScales.Length}, expected {rows}x{groups}", nameof(aScales));
        if (bScales is not null && bScales.Length != (long)cols * groups) throw new ArgumentException($"bScales holds {bScales.Length}, expected {cols}x{groups}", nameof(bScales));
        RequireShortMantissas(a.Span, nameof(a));
        RequireShortMantissas(b.Span, nameof(b));
        int flush = Math.Min(g, FlushLength);
        var c = new double[(long)rows * cols];
        // Tiles of RowBlock rows by about 1 MiB of b's rows: inside one, a quad of rows of a stays in the core's cache
        // while the block's columns stream past it, so a is read once per column block, not once per column pair.
        int colBlock = (int)Math.Clamp((1L << 18) / k / 2 * 2, 2, cols + 1);
        int colBlocks = (cols + colBlock - 1) / colBlock, rowBlocks = (rows + RowBlock - 1) / RowBlock;
        void Block(int t)
        {
            int i0Start = t / colBlocks * RowBlock, iEnd = Math.Min(rows, i0Start + RowBlock);
            int j0 = t % colBlocks * colBlock, j1 = Math.Min(cols, j0 + colBlock);
            Span<double> acc = stackalloc double[8];
            var av = a.Span;
            var bv = b.Span;
            for (int i0 = i0Start; i0 < iEnd; i0 += 4)
            {
                int ri = Math.Min(4, iEnd - i0);
                for (int j = j0; j < j1; j += 2)
                {
                    int cj = Math.Min(2, j1 - j);
                    acc.Clear();
                    for (int k0 = 0; k0 < k; k0 += flush)
                    {
                        int len = Math.Min(flush, k - k0), gi = k0 / g;
                        Tile(av, bv, k, i0, ri, j, cj, k0, len, acc);
                        for (int r = 0; r < ri; r++)
                            for (int q = 0; q < cj; q++)
                            {
                                double s = (aScales?[(i0 + r) * groups + gi] ?? 1f) * (double)(bScales?[(j + q) * groups + gi] ?? 1f);
                                c[(long)(i0 + r) * cols + j + q] += s * acc[r * 2 + q];
                            }
                        acc.Clear();
                    }
                }
            }
        }
        int tasks = colBlocks * rowBlocks;
        if (tasks == 1 || (long)rows * cols * k < (1L << 18)) for (int t = 0; t < tasks; t++) Block(t);
        else Parallel.For(0, tasks, Block);
        return c;
    }

    /// <summary>
    /// Partial sums over [k0, k0 + len) of up to 4 rows of a times up to 2 rows of b into acc[r * 2 + q]: fp32
    /// lanes (exact products, so a fused multiply-add rounds exactly as a multiply and an add would), each lane's
    /// sum and the scalar tail added in double.
    /// </summary>
    private static void Tile(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int k, int i0, int ri, int j0, int cj, int k0, int len, Span<double> acc)
    {
        int vw = Vector<float>.Count, vlen = len / vw * vw;
        if (ri == 4 && cj == 2)
        {
            var a0 = MemoryMarshal.Cast<float, Vector<float>>(a.Slice((i0 + 0) * k + k0, vlen));
            var a1 = MemoryMarshal.Cast<float, Vector<float>>(a.Slice((i0 + 1) * k + k0, vlen));
            var a2 = MemoryMarshal.Cast<float, Vector<float>>(a.Slice((i0 + 2) * k + k0, vlen));
            var a3 = MemoryMarshal.Cast<float, Vector<float>>(a.Slice((i0 + 3) * k + k0, vlen));
            var b0 = MemoryMarshal.Cast<float, Vector<float>>(b.Slice(j0 * k + k0, vlen));
            var b1 = MemoryMarshal.Cast<float, Vector<float>>(b.Slice((j0 + 1) * k + k0, vlen));
            Vector<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
            for (int v = 0; v < b0.Length; v++)
            {
                var w0 = b0[v];
                var w1 = b1[v];
                s00 = Vector.FusedMultiplyAdd(a0[v], w0, s00); s01 = Vector.FusedMultiplyAdd(a0[v], w1, s01);
                s10 = Vector.FusedMultiplyAdd(a1[v], w0, s10); s11 = Vector.FusedMultiplyAdd(a1[v], w1, s11);
                s20 = Vector.FusedMultiplyAdd(a2[v], w0, s20); s21 = Vector.FusedMultiplyAdd(a2[v], w1, s21);
                s30 = Vector.FusedMultiplyAdd(a3[v], w0, s30); s31 = Vector.FusedMultiplyAdd(a3[v], w1, s31);
            }
            acc[0] += Sum(s00); acc[1] += Sum(s01); acc[2] += Sum(s10); acc[3] += Sum(s11);
            acc[4] += Sum(s20); acc[5] += Sum(s21); acc[6] += Sum(s30); acc[7] += Sum(s31);
        }
        else
        {
            for (int r = 0; r < ri; r++)
                for (int q = 0; q < cj; q++)
                {
                    var ar = MemoryMarshal.Cast<float, Vector<float>>(a.Slice((i0 + r) * k + k0, vlen));
                    var br = MemoryMarshal.Cast<float, Vector<float>>(b.Slice((j0 + q) * k + k0, vlen));
                    Vector<float> s = default;
                    for (int v = 0; v < br.Length; v++) s = Vector.FusedMultiplyAdd(ar[v], br[v], s);
                    acc[r * 2 + q] += Sum(s);
                }
        }
        for (int x = vlen; x < len; x++)
            for (int r = 0; r < ri; r++)
                for (int q = 0; q < cj; q++)
                    acc[r * 2 + q] += (double)a[(i0 + r) * k + k0 + x] * b[(j0 + q) * k + k0 + x];
    }

    private static double Sum(Vector<float> v)
    {
        Vector.Widen(v, out var lo, out var hi);
        return Vector.Sum(lo + hi);
    }

    /// <summary>Throws unless every value has at most 12 significant bits (its fp32 mantissa's low 12 bits are zero).</summary>
    private static void RequireShortMantissas(ReadOnlySpan<float> values, string name)
    {
        var bits = MemoryMarshal.Cast<float, uint>(values);
        var lanes = MemoryMarshal.Cast<uint, Vector<uint>>(bits);
        var anyLane = Vector<uint>.Zero;
        foreach (var v in lanes) anyLane |= v;
        uint any = 0;
        for (int i = 0; i < Vector<uint>.Count; i++) any |= anyLane[i];
        for (int i = lanes.Length * Vector<uint>.Count; i < bits.Length; i++) any |= bits[i];
        if ((any & 0xFFF) == 0) return;
        for (int i = 0; i < bits.Length; i++)
            if ((bits[i] & 0xFFF) != 0)
                throw new ArgumentException($"{name}[{i}] = {values[i]:G9} has more than 12 significant bits: products would not be exact in fp32", name);
    }

    /// <summary>
    /// Splits float64 values into two floats of at most 12 significant bits each, hi + lo within 2^-22 relative
    /// of the value, so a product with 12-bit weights goes through <see cref="MatMulT"/> as two exact passes.
    /// </summary>
    public static (float[] Hi, float[] Lo) Split(double[] values)
    {
        var hi = new float[values.Length];
        var lo = new float[values.Length];
        ForChunks(values.Length, 1 << 16, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                float h = Round12(values[i]);
                hi[i] = h;
                lo[i] = Round12(values[i] - h);
            }
        });
        return (hi, lo);
    }

    /// <summary>v rounded to 12 significant bits (toward zero after the fp32 conversion: only the split's sum matters).</summary>
    private static float Round12(double v)
    {
        uint bits = BitConverter.SingleToUInt32Bits((float)v);
        return BitConverter.UInt32BitsToSingle(bits & ~0xFFFu);
    }

    /// <summary>
    /// Runs <paramref name="body"/>(firstColumn, endColumn) over column blocks of [0, <paramref name="cols"/>),
    /// in parallel; <paramref name="work"/> is the cost of one column (rows x K multiply-adds). The body loops
    /// over the rows inside a column, so each weight row is read from memory once for all of them.
    /// </summary>
    public static void ForColumns(int cols, long work, Action<int, int> body)
    {
        if (cols <= 0) return;
        // About 1M multiply-adds per task, and at least 8 tasks per core when there are enough columns.
        long block = Math.Clamp((1L << 20) / Math.Max(1, work), 1, cols);
        block = Math.Max(1, Math.Min(block, cols / (8L * Environment.ProcessorCount)));
        int blocks = (int)((cols + block - 1) / block);
        if (blocks == 1 || cols * work < (1L << 16))
        {
            body(0, cols);
            return;
        }
        Parallel.For(0, blocks, b => body((int)(b * block), (int)Math.Min(cols, (b + 1) * block)));
    }

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, <paramref name="count"/>) in chunks of <paramref name="chunk"/>, in parallel when there is more than one chunk.</summary>
    public static void ForChunks(long count, long chunk, Action<long, long> body)
    {
        if (count <= 0) return;
        long chunks = (count + chunk - 1) / chunk;
        if (chunks == 1)
        {
            body(0, count);
            return;
        }
        Parallel.For(0L, chunks, c => body(c * chunk, Math.Min(count, (c + 1) * chunk)));
    }
}
