namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// One tensor of a safetensors header. <see cref="Begin"/> and <see cref="End"/> are the header's
/// data_offsets: relative to the first byte after the header, end exclusive.
/// </summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, IReadOnlyList<long> Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;

    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    public override string ToString() => $"{Name} {DType.HeaderName()} {ShapeText} @[{Begin}, {End})";
}
