namespace GraphEngine.Kernels;

/// <summary>Element types a device tensor can hold. Int4 and Fp4E2M1 are packed two per byte, low nibble first.</summary>
public enum DType
{
    /// <summary>bfloat16, 2 bytes.</summary>
    BF16,
    /// <summary>IEEE float16, 2 bytes.</summary>
    F16,
    /// <summary>IEEE float32, 4 bytes.</summary>
    F32,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>4-bit integer, two per byte (low nibble first).</summary>
    Int4,
    /// <summary>fp8 e4m3 (finite variant, max 448), 1 byte.</summary>
    Fp8E4M3,
    /// <summary>fp8 e5m2 (max 57344), 1 byte.</summary>
    Fp8E5M2,
    /// <summary>fp4 e2m1 (max 6), two per byte (low nibble first).</summary>
    Fp4E2M1,
}

/// <summary>Sizes and properties of <see cref="DType"/>.</summary>
public static class DTypes
{
    /// <summary>Bits per element of <paramref name="dtype"/> (4 for the packed types).</summary>
    public static int BitsOf(this DType dtype) => dtype switch
    {
        DType.BF16 or DType.F16 => 16,
        DType.F32 or DType.I32 => 32,
        DType.I64 => 64,
        DType.I8 or DType.U8 or DType.Fp8E4M3 or DType.Fp8E5M2 => 8,
        DType.Int4 or DType.Fp4E2M1 => 4,
        _ => throw UnknownDType(dtype, nameof(dtype)),
    };

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming <paramref name="paramName"/> when <paramref name="dtype"/> is not a member of <see cref="DType"/> (a cast integer).</summary>
    public static void RequireDefined(DType dtype, string paramName)
    {
        if ((uint)dtype > (uint)DType.Fp4E2M1) throw UnknownDType(dtype, paramName);
    }

    private static ArgumentOutOfRangeException UnknownDType(DType dtype, string paramName) =>
        new(paramName, dtype, $"{paramName} {(int)dtype} is not a DType (BF16 ... Fp4E2M1)");

    /// <summary>True for the types stored two per byte (Int4, Fp4E2M1).</summary>
    public static bool IsPacked(this DType t) => t.BitsOf() == 4;

    /// <summary>Bytes needed for <paramref name="elements"/> elements; packed types need an even count.</summary>
    public static long ByteCount(this DType t, long elements)
    {
        if (elements < 0) throw new ArgumentOutOfRangeException(nameof(elements), elements, "element count must be >= 0");
        if (t.IsPacked())
        {
            if ((elements & 1) != 0)
                throw new ArgumentException($"{t} packs two elements per byte; element count {elements} is odd", nameof(elements));
            return elements / 2;
        }
        int size = t.BitsOf() / 8;
        // Unchecked, the product wraps to a small or negative size that every later buffer check accepts.
        if (elements > long.MaxValue / size)
            throw new ArgumentOutOfRangeException(nameof(elements), elements, $"{elements} elements of {t} is more than {long.MaxValue} bytes");
        return elements * size;
    }

    /// <summary>The CUDA C++ type name used when baking a dtype into an NVRTC kernel.</summary>
    public static string CudaTypeName(this DType t) => t switch
    {
        DType.BF16 => "__nv_bfloat16",
        DType.F16 => "__half",
        DType.F32 => "float",
        DType.I32 => "int",
        DType.I64 => "long long",
        DType.I8 => "signed char",
        DType.U8 => "unsigned char",
        DType.Fp8E4M3 => "__nv_fp8_e4m3",
        DType.Fp8E5M2 => "__nv_fp8_e5m2",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "packed dtypes have no scalar CUDA type"),
    };

    /// <summary>True for BF16 and F16, the activation types.</summary>
    public static bool IsHalfPrecisionFloat(this DType t) => t is DType.BF16 or DType.F16;
}
