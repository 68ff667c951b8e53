namespace GraphEngine.Kernels;

/// <summary>A raw device address. On the reference backend it is a host address of pinned native memory.</summary>
public readonly record struct DevicePtr(ulong Address)
{
    public static readonly DevicePtr Null = default;
    public bool IsNull => Address == 0;
    public static DevicePtr operator +(DevicePtr p, long byteOffset) => new(p.Address + (ulong)byteOffset);
    public override string ToString() => $"0x{Address:x}";
}
