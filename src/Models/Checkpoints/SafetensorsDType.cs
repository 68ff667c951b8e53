namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// The element types this reader accepts in a safetensors header, spelled as the format spells them
/// (BF16, F16, F32, F8_E4M3, F8_E5M2, I8, U8, I32, I64, BOOL). Others the format knows (F64, I16, U16, ...)
/// appear in no checkpoint this engine loads and are refused as unknown.
/// </summary>
public enum SafetensorsDType
{
    /// <summary>bfloat16, 2 bytes.</summary>
    BF16,
    /// <summary>IEEE float16, 2 bytes.</summary>
    F16,
    /// <summary>IEEE float32, 4 bytes.</summary>
    F32,
    /// <summary>fp8 E4M3 (header name F8_E4M3), 1 byte.</summary>
    F8E4M3,
    /// <summary>fp8 E5M2 (header name F8_E5M2), 1 byte.</summary>
    F8E5M2,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 8-bit integer (packed 4-bit weights, fp4 pairs, scales).</summary>
    U8,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Boolean, 1 byte (header name BOOL).</summary>
    Bool,
}
