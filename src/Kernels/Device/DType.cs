namespace GraphEngine.Kernels;

/// <summary>Element types a device tensor can hold. Int4 and Fp4E2M1 are packed two per byte, low nibble first.</summary>
public enum DType
{
    BF16,
    F16,
    F32,
    I32,
    I64,
    I8,
    U8,
    Int4,
    Fp8E4M3,
    Fp8E5M2,
    Fp4E2M1,
}

public static class DTypes
{
    public static int BitsOf(this DType t) => t switch
    {
        DType.BF16 or DType.F16 => 16,
        DType.F32 or DType.I32 => 32,
        DType.I64 => 64,
        DType.I8 or DType.U8 or DType.Fp8E4M3 or DType.Fp8E5M2 => 8,
        DType.Int4 or DType.Fp4E2M1 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown dtype"),
    };

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
        return elements * (t.BitsOf() / 8);
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

    public static bool IsHalfPrecisionFloat(this DType t) => t is DType.BF16 or DType.F16;
}
