namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// The element types this reader accepts in a safetensors header, spelled as the format spells them
/// (BF16, F16, F32, F8_E4M3, F8_E5M2, I8, U8, I32, I64, BOOL). Others the format knows (F64, I16, U16, ...)
/// appear in no checkpoint this engine loads and are refused as unknown.
/// </summary>
public enum SafetensorsDType
{
    BF16,
    F16,
    F32,
    F8E4M3,
    F8E5M2,
    I8,
    U8,
    I32,
    I64,
    Bool,
}
