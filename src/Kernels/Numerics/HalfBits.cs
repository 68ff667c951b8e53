namespace GraphEngine.Kernels.Numerics;

/// <summary>IEEE fp16 bit conversions (System.Half rounds to nearest even, as __float2half_rn does).</summary>
public static class HalfBits
{
    /// <summary>
    /// As __float2half_rn: nearest even, subnormals kept, 65520 and above to infinity (System.Half's
    /// rules too); every NaN, whatever its sign and payload, becomes CUDA's canonical 0x7FFF, where
    /// System.Half would keep them.
    /// </summary>
    public static ushort FromFloat(float f) => float.IsNaN(f) ? (ushort)0x7FFF : BitConverter.HalfToUInt16Bits((Half)f);
    /// <summary>The exact float value of fp16 bits <paramref name="h"/>.</summary>
    public static float ToFloat(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);
    /// <summary>Rounds <paramref name="f"/> to the nearest fp16 value and back: what storing it in fp16 does.</summary>
    public static float Round(float f) => ToFloat(FromFloat(f));

    /// <summary>Converts a float to the bits of a bf16 or fp16 element.</summary>
    public static ushort FromFloat(float f, DType dtype) => dtype switch
    {
        DType.BF16 => Bf16.FromFloat(f),
        DType.F16 => FromFloat(f),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "expected BF16 or F16"),
    };

    /// <summary>The float value of <paramref name="bits"/> read as a bf16 or fp16 element.</summary>
    public static float ToFloat(ushort bits, DType dtype) => dtype switch
    {
        DType.BF16 => Bf16.ToFloat(bits),
        DType.F16 => ToFloat(bits),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "expected BF16 or F16"),
    };

    /// <summary>Quiet NaN bits for poisoning outputs of a 16-bit float type.</summary>
    public static ushort NaN(DType dtype) => dtype == DType.BF16 ? Bf16.CanonicalNaN : (ushort)0x7FFF;
}
