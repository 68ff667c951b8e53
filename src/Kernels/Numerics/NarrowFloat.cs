namespace GraphEngine.Kernels.Numerics;

/// <summary>What the narrow formats share: the decoded NaN and span checks.</summary>
internal static class NarrowFloat
{
    /// <summary>
    /// CUDA decodes fp8 through fp16 (__nv_cvt_fp8_to_halfraw), whose host path turns every NaN into
    /// fp16 0x7FFF; widened to float that is 0x7FFFFFFF. The device may return another NaN, so
    /// comparisons treat decoded NaNs as equal when both are NaN.
    /// </summary>
    public static readonly float DecodedNaN = BitConverter.UInt32BitsToSingle(0x7FFF_FFFF);

    public static void RequireRoom(int sourceLength, int destinationLength, string name)
    {
        if (destinationLength < sourceLength)
            throw new ArgumentException($"{name} holds {destinationLength} values, source {sourceLength}", name);
    }
}
