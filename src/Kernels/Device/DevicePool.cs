namespace GraphEngine.Kernels;

/// <summary>
/// The engine's buffer pool: large reservations carved into 256-byte-aligned blocks, first fit with
/// coalescing on free. Graphs captured at different token counts point into the same blocks, so graph
/// memory grows with the largest size only. When a reservation is full the pool reserves another chunk
/// (at least <see cref="ChunkBytes"/>), never per block.
/// </summary>
public sealed class DevicePool : IDisposable
{
    /// <summary>Alignment of every block, in bytes.</summary>
    public const long Alignment = 256;

    /// <summary>The largest block <see cref="Rent"/> takes: long.MaxValue rounded down to <see cref="Alignment"/>.</summary>
    public const long MaxBlockBytes = long.MaxValue / Alignment * Alignment;

    private readonly Device _device;
    private readonly List<Chunk> _chunks = new();
    private readonly object _lock = new();
    private long _inUse;
    private long _peak;
    private bool _disposed;

    /// <summary>A pool on <paramref name="device"/> reserving <paramref name="initialBytes"/> now (0: nothing until the first rent) and at least <paramref name="chunkBytes"/> per later reservation.</summary>
    public DevicePool(Device device, long initialBytes = 64L << 20, long chunkBytes = 256L << 20)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (initialBytes < 0) throw new ArgumentOutOfRangeException(nameof(initialBytes), initialBytes, "must be >= 0");
        if (chunkBytes <= 0) throw new ArgumentOutOfRangeException(nameof(chunkBytes), chunkBytes, "must be > 0");
        _device = device;
        ChunkBytes = chunkBytes;
        if (initialBytes > 0) AddChunk(initialBytes);
    }

    /// <summary>The device the pool reserves on.</summary>
    public Device Device => _device;
    /// <summary>Smallest size of a new reservation.</summary>
    public long ChunkBytes { get; }
    /// <summary>Bytes reserved from the device, over all chunks.</summary>
    public long ReservedBytes { get { lock (_lock) return _chunks.Sum(c => c.Buffer.Bytes); } }
    /// <summary>Bytes of blocks rented now (aligned sizes).</summary>
    public long InUseBytes { get { lock (_lock) return _inUse; } }
    /// <summary>Largest <see cref="InUseBytes"/> seen.</summary>
    public long PeakBytes { get { lock (_lock) return _peak; } }
    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>A block of at least <paramref name="bytes"/> (rounded up to <see cref="Alignment"/>), labelled <paramref name="tag"/>; reserves a new chunk of at least <see cref="ChunkBytes"/> when none fits (a device allocation, refused while capturing).</summary>
    public PoolBlock Rent(long bytes, string tag = "")
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"pool block '{tag}' must be > 0 bytes");
        // Rounding up past long.MaxValue would wrap to a negative size that every chunk "fits".
        if (bytes > MaxBlockBytes)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"pool block '{tag}' must be at most {MaxBlockBytes} bytes");
        long size = AlignUp(bytes);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // A chunk of a disposed device is freed memory even while this pool still lists it.
            if (_device.IsDisposed)
                throw new ObjectDisposedException(nameof(DevicePool), $"pool block '{tag}': the pool's device was disposed");
            foreach (var chunk in _chunks)
                if (chunk.TryTake(size, out long offset))
                    return Grant(chunk, offset, size, bytes, tag);
            var fresh = AddChunk(Math.Max(size, ChunkBytes));
            if (!fresh.TryTake(size, out long off))
                throw new InvalidOperationException($"pool chunk of {fresh.Buffer.Bytes} bytes could not hold {size}");
            return Grant(fresh, off, size, bytes, tag);
        }
    }

    /// <summary>Rents a block sized for a tensor and returns the tensor view with it.</summary>
    public PoolBlock RentTensor(DType dtype, long[] shape, out Tensor tensor, string tag = "")
    {
        long bytes = Math.Max(1, dtype.ByteCount(Tensor.CountElements(shape)));
        var block = Rent(bytes, tag);
        tensor = block.AsTensor(dtype, shape);
        return block;
    }

    /// <summary>
    /// <see cref="RentTensor"/>, the block zero-filled (on the device's default stream, finished before it returns): for
    /// buffers that kernels read over a step's padded rows before any step has written those rows (a GEMM over the
    /// captured size reads the rows past the token count and its results there are dropped), so the rows hold a value,
    /// never memory no one initialized (what compute-sanitizer initcheck reports). Not while a stream captures.
    /// </summary>
    public PoolBlock RentZeroedTensor(DType dtype, long[] shape, out Tensor tensor, string tag = "")
    {
        var block = RentTensor(dtype, shape, out tensor, tag);
        try
        {
            var stream = _device.DefaultStream;
            stream.Fill8Async(block.Ptr, 0, block.Bytes);
            stream.Synchronize();
        }
        catch
        {
            block.Dispose();
            throw;
        }
        return block;
    }

    private PoolBlock Grant(Chunk chunk, long offset, long size, long requested, string tag)
    {
        _inUse += size;
        _peak = Math.Max(_peak, _inUse);
        return new PoolBlock(this, chunk, offset, size, chunk.Buffer.Ptr + offset, requested, tag);
    }

    internal void Return(PoolBlock block)
    {
        lock (_lock)
        {
            block.Chunk.Give(block.Offset, block.AlignedBytes);
            _inUse -= block.AlignedBytes;
        }
    }

    private Chunk AddChunk(long bytes)
    {
        var c = new Chunk(_device.Allocate(AlignUp(bytes), $"pool chunk {_chunks.Count}"));
        _chunks.Add(c);
        return c;
    }

    private static long AlignUp(long v) => (v + Alignment - 1) / Alignment * Alignment;

    /// <summary>Frees every reservation; blocks and tensors from the pool become unusable.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var c in _chunks) c.Buffer.Dispose();
            _chunks.Clear();
        }
    }

    internal sealed class Chunk
    {
        // Free ranges sorted by offset; neighbours merge on Give so fragmentation stays bounded.
        private readonly SortedList<long, long> _free = new();

        public Chunk(DeviceBuffer buffer)
        {
            Buffer = buffer;
            _free.Add(0, buffer.Bytes);
        }

        public DeviceBuffer Buffer { get; }

        public bool TryTake(long size, out long offset)
        {
            for (int i = 0; i < _free.Count; i++)
            {
                long start = _free.Keys[i], len = _free.Values[i];
                if (len < size) continue;
                _free.RemoveAt(i);
                if (len > size) _free.Add(start + size, len - size);
                offset = start;
                return true;
            }
            offset = -1;
            return false;
        }

        public void Give(long offset, long size)
        {
            _free.Add(offset, size);
            int i = _free.IndexOfKey(offset);
            if (i + 1 < _free.Count && _free.Keys[i] + _free.Values[i] == _free.Keys[i + 1])
            {
                _free[_free.Keys[i]] = _free.Values[i] + _free.Values[i + 1];
                _free.RemoveAt(i + 1);
            }
            if (i > 0 && _free.Keys[i - 1] + _free.Values[i - 1] == _free.Keys[i])
            {
                _free[_free.Keys[i - 1]] = _free.Values[i - 1] + _free.Values[i];
                _free.RemoveAt(i);
            }
        }
    }
}

/// <summary>A block rented from a <see cref="DevicePool"/>; disposing it returns it to the pool.</summary>
public sealed class PoolBlock : DeviceMemory
{
    private readonly DevicePool _pool;

    internal PoolBlock(DevicePool pool, DevicePool.Chunk chunk, long offset, long alignedBytes, DevicePtr ptr, long bytes, string tag)
        : base(pool.Device, ptr, bytes, tag)
    {
        _pool = pool;
        Chunk = chunk;
        Offset = offset;
        AlignedBytes = alignedBytes;
    }

    internal DevicePool.Chunk Chunk { get; }
    internal long Offset { get; }
    internal long AlignedBytes { get; }

    /// <inheritdoc/>
    public override bool IsReleased => base.IsReleased || _pool.IsDisposed;

    /// <inheritdoc/>
    protected override void Free() => _pool.Return(this);
}
