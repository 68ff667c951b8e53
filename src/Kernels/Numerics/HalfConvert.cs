using System.Numerics;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// Span conversions between floats and bf16 / fp16 bits for host transfers of whole tensors: the same values as
/// <see cref="HalfBits.FromFloat(float, DType)"/> and <see cref="HalfBits.ToFloat(ushort, DType)"/> element by
/// element, in parallel blocks, bf16 in SIMD lanes. Gigabyte weights went through these one element at a time.
/// </summary>
public static class HalfConvert
{
    /// <summary>Elements per parallel block.</summary>
    private const int Block = 1 << 16;

    /// <summary><paramref name="source"/> rounded to <paramref name="dtype"/> (bf16 or fp16) into <paramref name="destination"/> of the same length.</summary>
    public static unsafe void FromFloats(ReadOnlySpan<float> source, Span<ushort> destination, DType dtype)
    {
        Require(source.Length, destination.Length, dtype);
        fixed (float* s = source)
        fixed (ushort* d = destination)
        {
            nint sp = (nint)s, dp = (nint)d;
            ForBlocks(source.Length, (start, count) =>
            {
                var src = new ReadOnlySpan<float>((float*)sp + start, count);
                var dst = new Span<ushort>((ushort*)dp + start, count);
                if (dtype == DType.BF16) Bf16Block(src, dst);
                else for (int i = 0; i < src.Length; i++) dst[i] = HalfBits.FromFloat(src[i]);
            });
        }
    }

    /// <summary>The float values of <paramref name="dtype"/> (bf16 or fp16) bits <paramref name="source"/> into <paramref name="destination"/> of the same length.</summary>
    public static unsafe void ToFloats(ReadOnlySpan<ushort> source, Span<float> destination, DType dtype)
    {
        Require(destination.Length, source.Length, dtype);
        fixed (ushort* s = source)
        fixed (float* d = destination)
        {
            nint sp = (nint)s, dp = (nint)d;
            ForBlocks(source.Length, (start, count) =>
            {
                var src = new ReadOnlySpan<ushort>((ushort*)sp + start, count);
                var dst = new Span<float>((float*)dp + start, count);
                if (dtype == DType.BF16) Bf16ToFloatBlock(src, dst);
                else for (int i = 0; i < src.Length; i++) dst[i] = HalfBits.ToFloat(src[i]);
            });
        }
    }

    private static void Require(int floats, int halves, DType dtype)
    {
        if (dtype is not (DType.BF16 or DType.F16)) throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "expected BF16 or F16");
        if (floats != halves) throw new ArgumentException($"{floats} floats and {halves} 16-bit values differ in length");
    }

    private static void ForBlocks(int length, Action<int, int> body)
    {
        int blocks = (length + Block - 1) / Block;
        if (blocks <= 1) body(0, length);
        else Parallel.For(0, blocks, b => body(b * Block, Math.Min(Block, length - b * Block)));
    }

    /// <summary><see cref="Bf16.FromFloat(float)"/> in lanes: round to nearest even by adding 0x7FFF plus the tie bit, NaN to the canonical NaN.</summary>
    private static void Bf16Block(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var u = MemoryMarshal.Cast<float, Vector<uint>>(src);
            var o = MemoryMarshal.Cast<ushort, Vector<ushort>>(dst);
            for (int v = 0; v < o.Length; v++) o[v] = Vector.Narrow(RoundLanes(u[2 * v]), RoundLanes(u[2 * v + 1]));
            i = o.Length * Vector<ushort>.Count;
        }
        for (; i < src.Length; i++) dst[i] = Bf16.FromFloat(src[i]);
    }

    private static Vector<uint> RoundLanes(Vector<uint> x)
    {
        var r = Vector.ShiftRightLogical(x + new Vector<uint>(0x7FFF) + (Vector.ShiftRightLogical(x, 16) & Vector<uint>.One), 16);
        return Vector.ConditionalSelect(Vector.GreaterThan(x & new Vector<uint>(0x7FFF_FFFF), new Vector<uint>(0x7F80_0000)), new Vector<uint>(Bf16.CanonicalNaN), r);
    }

    /// <summary><see cref="Bf16.ToFloat(ushort)"/> in lanes: the bits moved to the top half of a float.</summary>
    private static void Bf16ToFloatBlock(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var s = MemoryMarshal.Cast<ushort, Vector<ushort>>(src);
            var o = MemoryMarshal.Cast<float, Vector<uint>>(dst);
            for (int v = 0; v < s.Length; v++)
            {
                Vector.Widen(s[v], out var lo, out var hi);
                o[2 * v] = Vector.ShiftLeft(lo, 16);
                o[2 * v + 1] = Vector.ShiftLeft(hi, 16);
            }
            i = s.Length * Vector<ushort>.Count;
        }
        for (; i < src.Length; i++) dst[i] = Bf16.ToFloat(src[i]);
    }
}
