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
