using GraphEngine.Kernels;

namespace GraphEngine.Models.Checkpoints;

/// <summary>Sizes, header names and device types of <see cref="SafetensorsDType"/>.</summary>
public static class SafetensorsDTypes
{
    /// <summary>Bytes per element of <paramref name="t"/>.</summary>
    public static int ElementSize(this SafetensorsDType t) => t switch
    {
        SafetensorsDType.BF16 or SafetensorsDType.F16 => 2,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.I64 => 8,
        SafetensorsDType.F8E4M3 or SafetensorsDType.F8E5M2 or SafetensorsDType.I8 or SafetensorsDType.U8
            or SafetensorsDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "unknown safetensors dtype"),
    };

    /// <summary>The header's spelling.</summary>
    public static string HeaderName(this SafetensorsDType t) => t switch
    {
        SafetensorsDType.F8E4M3 => "F8_E4M3",
        SafetensorsDType.F8E5M2 => "F8_E5M2",
        SafetensorsDType.Bool => "BOOL",
        _ => t.ToString(),
    };

    /// <summary>Parses the header's spelling; the format is case-sensitive, so this is too.</summary>
    public static bool TryParse(string? name, out SafetensorsDType t)
    {
        switch (name)
        {
            case "BF16": t = SafetensorsDType.BF16; return true;
            case "F16": t = SafetensorsDType.F16; return true;
            case "F32": t = SafetensorsDType.F32; return true;
            case "F8_E4M3": t = SafetensorsDType.F8E4M3; return true;
            case "F8_E5M2": t = SafetensorsDType.F8E5M2; return true;
            case "I8": t = SafetensorsDType.I8; return true;
            case "U8": t = SafetensorsDType.U8; return true;
            case "I32": t = SafetensorsDType.I32; return true;
            case "I64": t = SafetensorsDType.I64; return true;
            case "BOOL": t = SafetensorsDType.Bool; return true;
            default: t = default; return false;
        }
    }

    /// <summary>The device dtype holding the same bytes, or null for BOOL (no device tensor kind of its own).</summary>
    public static DType? ToKernelDType(this SafetensorsDType t) => t switch
    {
        SafetensorsDType.BF16 => DType.BF16,
        SafetensorsDType.F16 => DType.F16,
        SafetensorsDType.F32 => DType.F32,
        SafetensorsDType.F8E4M3 => DType.Fp8E4M3,
        SafetensorsDType.F8E5M2 => DType.Fp8E5M2,
        SafetensorsDType.I8 => DType.I8,
        SafetensorsDType.U8 => DType.U8,
        SafetensorsDType.I32 => DType.I32,
        SafetensorsDType.I64 => DType.I64,
        _ => null,
    };
}
