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

    public SafetensorsFile File { get; }

    public SafetensorsEntry Entry { get; }

    public string Name => Entry.Name;

    public SafetensorsDType DType => Entry.DType;

    /// <summary>The device dtype with the same bytes; null for BOOL.</summary>
    public DType? KernelDType => Entry.DType.ToKernelDType();

    public IReadOnlyList<long> Shape => Entry.Shape;

    public long ByteLength => Entry.ByteLength;

    /// <summary>All bytes, mapped without copying; valid until the checkpoint is disposed.</summary>
    public ReadOnlySpan<byte> Bytes => File.GetSpan(Entry);

    /// <summary>A mapped slice, for tensors larger than one span.</summary>
    public ReadOnlySpan<byte> Slice(long offset, int length) => File.GetSpan(Entry, offset, length);

    /// <summary>Positional read of bytes [offset, offset + destination.Length) into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<byte> destination) => File.Read(Entry, offset, destination);

    public override string ToString() => $"{Entry} in {File.Path}";
}
