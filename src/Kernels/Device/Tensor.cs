using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

/// <summary>
/// A non-owning view of device memory: address, element type and row-major shape. Slicing never copies.
/// The memory belongs to a <see cref="DeviceMemory"/> (a buffer or a pool block): a tensor made from
/// one remembers it, and host transfers and kernel validation throw <see cref="ObjectDisposedException"/>
/// once that memory, its pool or its device is disposed, instead of touching freed memory.
/// </summary>
public readonly struct Tensor
{
    private readonly long[] _shape;
    private readonly DeviceMemory? _owner;

    /// <summary>A view of <paramref name="ptr"/> on <paramref name="device"/> as <paramref name="dtype"/> with row-major <paramref name="shape"/>; it owns nothing and does not track the memory's lifetime.</summary>
    public Tensor(Device device, DevicePtr ptr, DType dtype, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(shape);
        DTypes.RequireDefined(dtype, nameof(dtype));
        long elements = CountElements(shape);
        if (dtype.IsPacked() && shape.Length > 0 && (shape[^1] & 1) != 0)
            throw new ArgumentException($"{dtype} packs two per byte: innermost dimension {shape[^1]} must be even", nameof(shape));
        // A view whose byte size wrapped would pass every later size check against a small buffer.
        long bytes = dtype.ByteCount(elements);
        // Address 0 is never device memory: a copy or kernel through it is a native crash, not an exception.
        if (ptr.IsNull && bytes > 0)
            throw new ArgumentException($"tensor {dtype}[{string.Join(", ", shape)}] at address 0: a tensor of {bytes} bytes needs device memory", nameof(ptr));
        Device = device;
        Ptr = ptr;
        DType = dtype;
        _shape = (long[])shape.Clone();
    }

    internal Tensor(DeviceMemory owner, DevicePtr ptr, DType dtype, long[] shape) : this(owner.Device, ptr, dtype, shape) => _owner = owner;

    /// <summary>The buffer or pool block this tensor views, when it was made from one.</summary>
    public DeviceMemory? Owner => _owner;

    /// <summary>True once the memory behind this tensor (its buffer, pool or device) has been released.</summary>
    public bool IsReleased => !IsEmpty && (Device.IsDisposed || (_owner is not null && _owner.IsReleased));

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the memory behind this tensor is gone.</summary>
    public void ThrowIfReleased()
    {
        if (IsEmpty) return;
        if (Device.IsDisposed)
            throw new ObjectDisposedException(Device.GetType().Name, $"tensor {this} belongs to a disposed device");
        if (_owner is not null && _owner.IsReleased)
            throw new ObjectDisposedException(_owner.GetType().Name,
                $"tensor {this} views '{_owner.Tag}', which was released (its engine, pool or buffer was disposed)");
    }

    /// <summary>The device the memory is on.</summary>
    public Device Device { get; }
    /// <summary>Address of the first element.</summary>
    public DevicePtr Ptr { get; }
    /// <summary>Element type.</summary>
    public DType DType { get; }
    /// <summary>Dimensions, outermost first.</summary>
    public ReadOnlySpan<long> Shape => _shape;
    /// <summary>Number of dimensions (0 for the empty tensor).</summary>
    public int Rank => _shape?.Length ?? 0;
    /// <summary>True for <c>default(Tensor)</c>: no memory, no shape (an absent optional tensor).</summary>
    public bool IsEmpty => _shape is null;
    /// <summary>Dimension <paramref name="i"/>; <see cref="ArgumentOutOfRangeException"/> outside [0, Rank).</summary>
    public long Dim(int i) => i >= 0 && i < Rank ? _shape[i] : throw new ArgumentOutOfRangeException(nameof(i), i, $"tensor of rank {Rank}");
    /// <summary>Product of the dimensions (0 for the empty tensor).</summary>
    public long ElementCount => IsEmpty ? 0 : CountElements(_shape);
    /// <summary>Bytes of the elements (two 4-bit elements per byte).</summary>
    public long ByteCount => DType.ByteCount(ElementCount);

    /// <summary>Rows = the first dimension; a row is everything after it.</summary>
    public long Rows => Dim(0);
    /// <summary>Elements in one row (everything after the first dimension); 1 for rank 1 or less.</summary>
    public long RowElements => Rank <= 1 ? 1 : ElementCount / Math.Max(1, _shape[0]);
    /// <summary>Bytes of one row.</summary>
    public long RowBytes => DType.ByteCount(RowElements);

    /// <summary>The shape as "[a, b]".</summary>
    public string ShapeText => $"[{string.Join(", ", _shape ?? Array.Empty<long>())}]";
    /// <summary>Type, shape and address: "BF16[4, 8]@0x7f...".</summary>
    public override string ToString() => $"{DType}{ShapeText}@{Ptr}";

    internal static long CountElements(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(shape), d, "dimensions must be >= 0");
            if (d != 0 && n > long.MaxValue / d)
                throw new ArgumentOutOfRangeException(nameof(shape), $"shape [{string.Join(", ", shape.ToArray())}] has more than {long.MaxValue} elements");
            n *= d;
        }
        return n;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming <paramref name="what"/> for <c>default(Tensor)</c>, which has no device or memory.</summary>
    private void ThrowIfEmpty(string what)
    {
        if (IsEmpty) throw new InvalidOperationException($"cannot {what} the empty tensor (default(Tensor)): it has no device and no memory");
    }

    /// <summary>Rows [start, start + count) as a view of the same memory.</summary>
    public Tensor SliceRows(long start, long count)
    {
        ThrowIfEmpty("slice");
        if (Rank == 0) throw new InvalidOperationException("cannot slice rows of a scalar tensor");
        // Compared without start + count, which wraps for counts near long.MaxValue.
        if (start < 0 || start > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"first row {start} outside tensor {this} of {Rows} rows");
        if (count < 0 || count > Rows - start)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{count} rows from row {start} run past tensor {this} of {Rows} rows");
        var shape = (long[])_shape.Clone();
        shape[0] = count;
        return _owner is null ? new Tensor(Device, Ptr + start * RowBytes, DType, shape) : new Tensor(_owner, Ptr + start * RowBytes, DType, shape);
    }

    /// <summary>Same memory, another shape with the same element count.</summary>
    public Tensor Reshape(params long[] shape)
    {
        ThrowIfEmpty("reshape");
        ArgumentNullException.ThrowIfNull(shape);
        long n = CountElements(shape);
        if (n != ElementCount)
            throw new ArgumentException($"cannot reshape {this} ({ElementCount} elements) to [{string.Join(", ", shape)}] ({n})", nameof(shape));
        return _owner is null ? new Tensor(Device, Ptr, DType, shape) : new Tensor(_owner, Ptr, DType, (long[])shape.Clone());
    }

    // ----- validation used by every kernel family and layer: messages name the argument and the value -----

    /// <summary>This tensor when its type is <paramref name="dtype"/>; otherwise an <see cref="ArgumentException"/> naming <paramref name="name"/>.</summary>
    public Tensor Require(string name, DType dtype)
    {
        if (IsEmpty) throw new ArgumentException($"{name} is an empty tensor", name);
        ThrowIfReleased();
        if (DType != dtype) throw new ArgumentException($"{name} must be {dtype}, got {this}", name);
        return this;
    }

    /// <summary>This tensor when its type is <paramref name="dtype"/> and its shape is <paramref name="shape"/>; otherwise an <see cref="ArgumentException"/> naming <paramref name="name"/>.</summary>
    public Tensor Require(string name, DType dtype, params long[] shape)
    {
        Require(name, dtype);
        if (!Shape.SequenceEqual(shape))
            throw new ArgumentException($"{name} must have shape [{string.Join(", ", shape)}], got {this}", name);
        return this;
    }

    /// <summary>This tensor when it has <paramref name="rank"/> dimensions; otherwise an <see cref="ArgumentException"/> naming <paramref name="name"/>.</summary>
    public Tensor RequireRank(string name, int rank)
    {
        if (IsEmpty) throw new ArgumentException($"{name} is an empty tensor", name);
        ThrowIfReleased();
        if (Rank != rank) throw new ArgumentException($"{name} must have rank {rank}, got {this}", name);
        return this;
    }

    /// <summary>This tensor when it is on <paramref name="device"/> (and not released); otherwise an exception naming <paramref name="name"/>.</summary>
    public Tensor RequireDevice(string name, Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (IsEmpty) throw new ArgumentException($"{name} is an empty tensor", name);
        ThrowIfReleased();
        // Two devices of one kind share a name (two reference backends, two GPUs of a model): say "another".
        if (!ReferenceEquals(Device, device))
            throw new ArgumentException($"{name} lives on another device ({Device.Info.Name}), not on this one ({device.Info.Name})", name);
        return this;
    }

    // ----- synchronous host transfers (illegal while capturing) -----

    /// <summary>Copies <paramref name="source"/> (exactly <see cref="ByteCount"/> bytes) to the device; synchronous, illegal while capturing.</summary>
    public void CopyFrom<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(source);
        RequireHostBytes(bytes.Length, nameof(source), "needs");
        Device.CopyToDevice(Ptr, bytes);
    }

    /// <summary>Copies the tensor's bytes into <paramref name="destination"/> (exactly <see cref="ByteCount"/> bytes); synchronous, illegal while capturing.</summary>
    public void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(destination);
        RequireHostBytes(bytes.Length, nameof(destination), "has");
        Device.CopyToHost(bytes, Ptr);
    }

    /// <summary>A live tensor and a host span of exactly <see cref="ByteCount"/> bytes, or the exception saying which is wrong.</summary>
    private void RequireHostBytes(int hostBytes, string paramName, string verb)
    {
        ThrowIfEmpty("copy to or from");
        ThrowIfReleased();
        if (hostBytes != ByteCount)
            throw new ArgumentException($"{paramName} holds {hostBytes} bytes but {this} {verb} {ByteCount}", paramName);
    }

    /// <summary>The tensor's bytes as a new array of <typeparamref name="T"/>; synchronous, illegal while capturing.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        ThrowIfEmpty("copy from");
        long size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (ByteCount % size != 0)
            throw new ArgumentException($"{this} ({ByteCount} bytes) is not a whole number of {typeof(T).Name}");
        var result = new T[ByteCount / size];
        CopyTo<T>(result);
        return result;
    }
}
