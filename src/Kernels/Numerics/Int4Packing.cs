namespace GraphEngine.Kernels.Numerics;

/// <summary>
/// 4-bit integers two per byte, element 2i in the LOW nibble of byte i (the order DType.Int4 and the
/// int4 kernels use). Three readings of a nibble:
/// signed two's complement [-8, 7] (wint4 / wi4a16 weights), unsigned [0, 15] (zero-point formats), and
/// sign-magnitude ±[0, 7] (w4afp8: the kernel drops the low three bits into an e4m3 byte's mantissa,
/// where they read as n * 2^-9, and the fourth bit becomes the fp8 sign; so value = ±(n &amp; 7)).
/// </summary>
public static class Int4Packing
{
    /// <summary>The two's complement value [-8, 7] of the low four bits of <paramref name="nibble"/>.</summary>
    public static int SignedNibble(int nibble) => ((nibble & 0xF) ^ 0x8) - 0x8;
    /// <summary>The sign-magnitude value ±[0, 7] of the low four bits of <paramref name="nibble"/>.</summary>
    public static int SignMagnitudeNibble(int nibble) => (nibble & 0x8) != 0 ? -(nibble & 0x7) : nibble & 0x7;

    /// <summary>Packs <paramref name="values"/> in [-8, 7] as two's complement nibbles, two per byte, into <paramref name="destination"/>.</summary>
    public static void PackSigned(ReadOnlySpan<sbyte> values, Span<byte> destination) =>
        Pack(values, destination, -8, 7, v => v & 0xF);

    /// <summary>Packs <paramref name="values"/> in [0, 15] two per byte into <paramref name="destination"/>.</summary>
    public static void PackUnsigned(ReadOnlySpan<byte> values, Span<byte> destination)
    {
        RequireShape(values.Length, destination.Length);
        for (int i = 0; i < values.Length; i++)
            if (values[i] > 15) throw new ArgumentOutOfRangeException(nameof(values), values[i], $"unsigned int4 value at index {i} must be in [0, 15]");
        for (int i = 0; i < values.Length / 2; i++) destination[i] = (byte)(values[2 * i] | (values[2 * i + 1] << 4));
    }

    /// <summary>Sign-magnitude: bit 3 is the sign, bits 0-2 the magnitude; 0 packs as +0.</summary>
    public static void PackSignMagnitude(ReadOnlySpan<sbyte> values, Span<byte> destination) =>
        Pack(values, destination, -7, 7, v => v < 0 ? 0x8 | -v : v);

    /// <summary>Unpacks two's complement nibbles, low first, into <paramref name="destination"/>.</summary>
    public static void UnpackSigned(ReadOnlySpan<byte> packed, Span<sbyte> destination) => Unpack(packed, destination, SignedNibble);
    /// <summary>Unpacks sign-magnitude nibbles, low first, into <paramref name="destination"/>.</summary>
    public static void UnpackSignMagnitude(ReadOnlySpan<byte> packed, Span<sbyte> destination) => Unpack(packed, destination, SignMagnitudeNibble);

    /// <summary>Unpacks unsigned nibbles, low first, into <paramref name="destination"/>.</summary>
    public static void UnpackUnsigned(ReadOnlySpan<byte> packed, Span<byte> destination)
    {
        RequireRoom(packed.Length, destination.Length);
        for (int i = 0; i < packed.Length; i++)
        {
            destination[2 * i] = (byte)(packed[i] & 0xF);
            destination[2 * i + 1] = (byte)(packed[i] >> 4);
        }
    }

    private static void Pack(ReadOnlySpan<sbyte> values, Span<byte> destination, int min, int max, Func<int, int> nibble)
    {
        RequireShape(values.Length, destination.Length);
        for (int i = 0; i < values.Length; i++)
            if (values[i] < min || values[i] > max)
                throw new ArgumentOutOfRangeException(nameof(values), values[i], $"int4 value at index {i} must be in [{min}, {max}]");
        for (int i = 0; i < values.Length / 2; i++)
            destination[i] = (byte)(nibble(values[2 * i]) | (nibble(values[2 * i + 1]) << 4));
    }

    private static void Unpack(ReadOnlySpan<byte> packed, Span<sbyte> destination, Func<int, int> read)
    {
        RequireRoom(packed.Length, destination.Length);
        for (int i = 0; i < packed.Length; i++)
        {
            destination[2 * i] = (sbyte)read(packed[i] & 0xF);
            destination[2 * i + 1] = (sbyte)read(packed[i] >> 4);
        }
    }

    private static void RequireShape(int values, int destinationBytes)
    {
        if ((values & 1) != 0)
            throw new ArgumentException($"int4 packs two values per byte; got an odd count {values}", nameof(values));
        if (destinationBytes < values / 2)
            throw new ArgumentException($"destination holds {destinationBytes} bytes, {values} values need {values / 2}", "destination");
    }

    private static void RequireRoom(int packedBytes, int destination)
    {
        if (destination < packedBytes * 2)
            throw new ArgumentException($"destination holds {destination} values, {packedBytes} bytes hold {packedBytes * 2}", nameof(destination));
    }
}
