namespace GraphEngine.Kernels;

/// <summary>A raw device address. On the reference backend it is a host address of pinned native memory.</summary>
public readonly record struct DevicePtr(ulong Address)
{
    /// <summary>Address 0.</summary>
    public static readonly DevicePtr Null = default;
    /// <summary>True for address 0.</summary>
    public bool IsNull => Address == 0;
    /// <summary>The address <paramref name="byteOffset"/> bytes past <paramref name="p"/>.</summary>
    public static DevicePtr operator +(DevicePtr p, long byteOffset) => new(p.Address + (ulong)byteOffset);
    /// <summary>The address in hex.</summary>
    public override string ToString() => $"0x{Address:x}";
}
