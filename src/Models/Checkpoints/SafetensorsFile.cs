using System.IO.MemoryMappedFiles;
using GraphEngine.Kernels;
using Microsoft.Win32.SafeHandles;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// One safetensors file, opened read-only. The header is read and checked on open
/// (<see cref="SafetensorsHeader"/>); tensor bytes are reached either through a read-only memory
/// mapping of the whole file (<see cref="GetSpan(SafetensorsEntry)"/>, zero-copy, made on first use) or by positional
/// reads into a caller's buffer (<see cref="Read"/>), which is what keeps <see cref="TensorUploader"/>'s
/// host memory bounded by its staging buffer: mapped pages count towards the process's resident set.
/// Spans handed out are valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly SafetensorsHeader _header;
    private readonly object _mapLock = new();
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private byte* _base;
    private bool _disposed;

    private SafetensorsFile(string path, SafeFileHandle handle, long length, SafetensorsHeader header)
    {
        Path = path;
        _handle = handle;
        Length = length;
        _header = header;
    }

    /// <summary>The file's path, as opened.</summary>
    public string Path { get; }

    /// <summary>The file's size in bytes.</summary>
    public long Length { get; }

    /// <summary>Absolute file offset of the data section (8 + header length).</summary>
    public long DataOffset => _header.DataOffset;

    /// <summary>Bytes after the header: the tensors' data section.</summary>
    public long DataLength => Length - DataOffset;

    /// <summary>The header's <c>__metadata__</c>; empty when it has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata => _header.Metadata;

    /// <summary>The tensors by name, as the header lists them.</summary>
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries => _header.Entries;

    /// <summary>Opens <paramref name="path"/> read-only and reads and checks its header; nothing is mapped yet.</summary>
    /// <exception cref="CheckpointException">The file cannot be opened or its header is invalid.</exception>
    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            RequireSeekable(path);
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, null, $"cannot open: {CheckpointException.Clip(e.Message)}", e);
        }
        try
        {
            long length = RandomAccess.GetLength(handle);
            var header = SafetensorsHeader.Read(handle, length, path);
            return new SafetensorsFile(path, handle, length, header);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A FIFO would block the open below until a writer came, and a pipe or socket has no offsets to read at; a probe
    /// open that cannot block tells them apart before the real one.
    /// </summary>
    private static void RequireSeekable(string path)
    {
        using var probe = InputFile.OpenRead(path);
        if (!InputFile.IsSeekable(probe))
            throw new CheckpointException(path, null, "is not a regular file (a FIFO, pipe or socket); safetensors are read at offsets");
    }

    /// <summary>Whether the header lists <paramref name="name"/>.</summary>
    public bool Contains(string name) => _header.Entries.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>; <see cref="CheckpointException"/> when the file has none.</summary>
    public SafetensorsEntry Get(string name) =>
        _header.Entries.TryGetValue(name, out var e) ? e : throw new CheckpointException(Path, name, "tensor is not in this file");

    /// <summary>All of one tensor's bytes, mapped; tensors over 2 GiB need <see cref="GetSpan(SafetensorsEntry, long, int)"/>.</summary>
    public ReadOnlySpan<byte> GetSpan(SafetensorsEntry entry)
    {
        if (entry.ByteLength > int.MaxValue)
            throw new CheckpointException(Path, entry.Name,
                $"is {entry.ByteLength} bytes, more than one span holds; read it in slices");
        return GetSpan(entry, 0, (int)entry.ByteLength);
    }

    /// <summary><paramref name="length"/> bytes of one tensor from <paramref name="offset"/> within it, mapped.</summary>
    public ReadOnlySpan<byte> GetSpan(SafetensorsEntry entry, long offset, int length)
    {
        CheckRange(entry, offset, length);
        if (length == 0) return ReadOnlySpan<byte>.Empty;
        return new ReadOnlySpan<byte>(MapBase() + DataOffset + entry.Begin + offset, length);
    }

    /// <summary>Copies bytes [offset, offset + destination.Length) of one tensor into <paramref name="destination"/>
    /// with positional reads, without mapping the file.</summary>
    public void Read(SafetensorsEntry entry, long offset, Span<byte> destination)
    {
        CheckRange(entry, offset, destination.Length);
        ObjectDisposedException.ThrowIf(_disposed, this);
        long at = DataOffset + entry.Begin + offset;
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, at);
            if (n == 0)
                throw new CheckpointException(Path, entry.Name, $"file ended at byte {at} while reading the tensor; was it truncated?");
            destination = destination[n..];
            at += n;
        }
    }

    private void CheckRange(SafetensorsEntry entry, long offset, int length)
    {
        if (!_header.Entries.TryGetValue(entry.Name, out var own) || !ReferenceEquals(own, entry))
            throw new ArgumentException($"'{CheckpointException.Clip(entry.Name)}' is not an entry of {Path}", nameof(entry));
        if (offset < 0 || length < 0 || offset > entry.ByteLength - length)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"[{offset}, {offset + length}) is outside the {entry.ByteLength} bytes of '{CheckpointException.Clip(entry.Name)}'");
    }

    private byte* MapBase()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_base != null) return _base;
        lock (_mapLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_base != null) return _base;
            _map = MemoryMappedFile.CreateFromFile(_handle, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: true);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            // The view may start before the requested offset when the OS rounds it to a page; offset 0 never is.
            _base = p + _view.PointerOffset;
            return _base;
        }
    }

    /// <summary>Unmaps the file and closes its handle; spans handed out are invalid afterwards.</summary>
    public void Dispose()
    {
        lock (_mapLock)
        {
            if (_disposed) return;
            _disposed = true;
            if (_view is not null)
            {
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
            }
            _map?.Dispose();
            _base = null;
            _handle.Dispose();
        }
    }
}
