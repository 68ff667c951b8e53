namespace GraphEngine.Kernels.Numerics;

/// <summary>What the narrow formats share: the decoded NaN and the span conversions.</summary>
internal static class NarrowFloat
{
    /// <summary>
    /// CUDA decodes fp8 through fp16 (__nv_cvt_fp8_to_halfraw), whose host path turns every NaN into
    /// fp16 0x7FFF; widened to float that is 0x7FFFFFFF. The device may return another NaN, so
    /// comparisons treat decoded NaNs as equal when both are NaN.
    /// </summary>
    public static readonly float DecodedNaN = BitConverter.UInt32BitsToSingle(0x7FFF_FFFF);

    private static void RequireRoom(int sourceLength, int destinationLength, string name)
    {
        if (destinationLength < sourceLength)
            throw new ArgumentException($"{name} holds {destinationLength} values, source {sourceLength}", name);
    }

    /// <summary>Converts every element of <paramref name="source"/> with a format's scalar converter.</summary>
    public static void Convert<TFrom, TTo>(ReadOnlySpan<TFrom> source, Span<TTo> destination, Func<TFrom, TTo> convert)
    {
        RequireRoom(source.Length, destination.Length, nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = convert(source[i]);
    }
}
