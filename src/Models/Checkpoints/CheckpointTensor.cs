using GraphEngine.Kernels;

namespace GraphEngine.Models.Checkpoints;

/// <summary>One tensor of a checkpoint: its header entry and the shard that holds its bytes.</summary>
public sealed class CheckpointTensor
{
    internal CheckpointTensor(SafetensorsFile file, SafetensorsEntry entry)
    {
        File = file;
        Entry = entry;
    }

    /// <summary>The shard that holds the tensor.</summary>
    public SafetensorsFile File { get; }

    /// <summary>The tensor's header entry in <see cref="File"/>.</summary>
    public SafetensorsEntry Entry { get; }

    /// <summary>The tensor's name in the checkpoint.</summary>
    public string Name => Entry.Name;

    /// <summary>The element type as stored.</summary>
    public SafetensorsDType DType => Entry.DType;

    /// <summary>The device dtype with the same bytes; null for BOOL.</summary>
    public DType? KernelDType => Entry.DType.ToKernelDType();

    /// <summary>The shape as stored, outermost first.</summary>
    public IReadOnlyList<long> Shape => Entry.Shape;

    /// <summary>Bytes of data (end minus begin offset).</summary>
    public long ByteLength => Entry.ByteLength;

    /// <summary>All bytes, mapped without copying; valid until the checkpoint is disposed.</summary>
    public ReadOnlySpan<byte> Bytes => File.GetSpan(Entry);

    /// <summary>A mapped slice, for tensors larger than one span.</summary>
    public ReadOnlySpan<byte> Slice(long offset, int length) => File.GetSpan(Entry, offset, length);

    /// <summary>Positional read of bytes [offset, offset + destination.Length) into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<byte> destination) => File.Read(Entry, offset, destination);

    /// <summary>The entry and the shard's path.</summary>
    public override string ToString() => $"{Entry} in {File.Path}";
}
