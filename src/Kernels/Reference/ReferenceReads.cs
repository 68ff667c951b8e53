using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Kernels.Reference;

/// <summary>Reads of device memory that several reference kernels make the same way, inside their closures.</summary>
internal static unsafe class ReferenceReads
{
    /// <summary>
    /// The rows [Start, End) expert <paramref name="expert"/> owns in a group GEMM, from the device offsets
    /// as the CUDA kernels read them: clamped to the host bound, so a count past it (or a garbage one) can
    /// never reach outside the problem. End &lt;= Start means the expert has no rows this step.
    /// </summary>
    public static (int Start, int End) ExpertRows(TokenLayout layout, int* offsets, int expert, int rowsBound)
    {
        if (layout == TokenLayout.PrefixSum)
        {
            int start = Math.Clamp(offsets[expert], 0, rowsBound);
            return (start, Math.Clamp(offsets[expert + 1], start, rowsBound));
        }
        int slab = expert * rowsBound;
        return (slab, slab + Math.Clamp(offsets[expert], 0, rowsBound));
    }

    /// <summary>
    /// The valid row count as the device holds it when the closure runs (so a replay sees the current count): the
    /// token count at <paramref name="tokenCount"/> clamped to [0, rows], or all rows for a null pointer.
    /// </summary>
    public static int ValidRows(ulong tokenCount, int rows) => tokenCount == 0 ? rows : Math.Clamp(*(int*)tokenCount, 0, rows);

    /// <inheritdoc cref="ValidRows(ulong, int)"/>
    public static int ValidRows(DevicePtr tokenCount, int rows) => ValidRows(tokenCount.Address, rows);

    /// <summary>Widens <paramref name="count"/> bf16/fp16 values starting at <paramref name="bits"/> to floats.</summary>
    public static float[] HalfToFloats(ushort* bits, long count, DType dtype)
    {
        var f = new float[count];
        for (long i = 0; i < count; i++) f[i] = HalfBits.ToFloat(bits[i], dtype);
        return f;
    }
}
