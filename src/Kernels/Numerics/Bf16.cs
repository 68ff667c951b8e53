using System.Runtime.CompilerServices;

namespace GraphEngine.Kernels.Numerics;

/// <summary>bfloat16 bit conversions with the rules of cuda_bf16.h's __float2bfloat16_rn.</summary>
public static class Bf16
{
    /// <summary>The NaN CUDA produces for any NaN input (cuda_bf16.hpp drops sign and payload; cvt.rn.bf16.f32 too).</summary>
    public const ushort CanonicalNaN = 0x7FFF;

    /// <summary>As __float2bfloat16_rn: round to nearest even; every NaN becomes <see cref="CanonicalNaN"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return CanonicalNaN;
        // Round to nearest even: add half an ulp of bf16 plus the tie-break bit, then truncate. A carry
        // out of the mantissa bumps the exponent, so the largest finite values round up to infinity.
        u += 0x7FFF + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    /// <summary>The exact float value of bf16 bits <paramref name="b"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <see cref="FromFloat(float)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void FromFloat(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination holds {destination.Length} values, source {source.Length}", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = FromFloat(source[i]);
    }

    /// <see cref="ToFloat(ushort)"/> over <paramref name="source"/>, into <paramref name="destination"/> of the same length.
    public static void ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination holds {destination.Length} values, source {source.Length}", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = ToFloat(source[i]);
    }

    /// <summary>Rounds a float to the nearest bf16 value and back: what storing it in bf16 does.</summary>
    public static float Round(float f) => ToFloat(FromFloat(f));
}
