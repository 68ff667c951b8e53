namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// One tensor of a safetensors header. <see cref="Begin"/> and <see cref="End"/> are the header's
/// data_offsets: relative to the first byte after the header, end exclusive.
/// </summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, IReadOnlyList<long> Shape, long Begin, long End)
{
    /// <summary>Bytes of data: <see cref="End"/> − <see cref="Begin"/>.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>The shape as "[a, b]".</summary>
    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    /// <summary>Name, dtype, shape and byte range in the data section.</summary>
    public override string ToString() => $"{Name} {DType.HeaderName()} {ShapeText} @[{Begin}, {End})";
}
