using System.Runtime.InteropServices;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// Streams a checkpoint tensor into a region of a device tensor through the <see cref="TensorUploader"/>'s
/// staging buffer, converting bf16 / fp16 / fp32 to the destination's type on the host chunk by chunk
/// (same type: bytes as they are).
/// </summary>
internal sealed class DeviceUpload
{
    private readonly TensorUploader _uploader;
    private readonly IProgress<LoadProgress>? _progress;
    private readonly CancellationToken _ct;
    private byte[] _convert = Array.Empty<byte>();

    public DeviceUpload(TensorUploader uploader, IProgress<LoadProgress>? progress, CancellationToken ct)
    {
        _uploader = uploader;
        _progress = progress;
        _ct = ct;
    }

    /// <summary>Writes <paramref name="source"/> into <paramref name="destination"/> from element <paramref name="elementOffset"/> on.</summary>
    public void To(CheckpointTensor source, Tensor destination, long elementOffset = 0)
    {
        var src = source.KernelDType;
        if (src is not (DType.BF16 or DType.F16 or DType.F32))
            throw new CheckpointException(source.File.Path, source.Name, $"is {source.DType.HeaderName()}; the loader reads bf16, f16 or f32");
        if (elementOffset + source.Entry.ElementCount > destination.ElementCount)
            throw new CheckpointException(source.File.Path, source.Name, $"does not fit {destination} at element {elementOffset}");
        var device = destination.Device;
        var dst = destination.DType;
        int srcSize = src == DType.F32 ? 4 : 2, dstSize = dst == DType.F32 ? 4 : 2;
        var basePtr = destination.Ptr + elementOffset * dstSize;
        _uploader.Upload(source, (chunk, offset) =>
        {
            long firstElement = offset / srcSize;
            if (src == dst)
            {
                device.CopyToDevice(basePtr + offset, chunk);
                return;
            }
            int count = chunk.Length / srcSize;
            if (_convert.Length < count * dstSize) _convert = GC.AllocateUninitializedArray<byte>(count * dstSize, pinned: true);
            var outBytes = _convert.AsSpan(0, count * dstSize);
            for (int i = 0; i < count; i++)
            {
                float v = src == DType.F32
                    ? MemoryMarshal.Read<float>(chunk.Slice(i * 4))
                    : HalfBits.ToFloat(MemoryMarshal.Read<ushort>(chunk.Slice(i * 2)), src.Value);
                if (dst == DType.F32) MemoryMarshal.Write(outBytes.Slice(i * 4), in v);
                else
                {
                    ushort bits = HalfBits.FromFloat(v, dst);
                    MemoryMarshal.Write(outBytes.Slice(i * 2), in bits);
                }
            }
            device.CopyToDevice(basePtr + firstElement * dstSize, outBytes);
        }, _progress, _ct);
    }

    /// <summary>Copies <paramref name="source"/>'s bytes as stored into <paramref name="destination"/> from byte <paramref name="offset"/> on
    /// (pre-quantized weights and scales, which the methods re-lay out on the host), counted in the load's progress.</summary>
    public void ToHost(CheckpointTensor source, byte[] destination, long offset = 0)
    {
        if (offset + source.ByteLength > destination.Length)
            throw new CheckpointException(source.File.Path, source.Name, $"does not fit {destination.Length} host bytes at {offset}");
        _uploader.Upload(source, (chunk, at) => chunk.CopyTo(destination.AsSpan((int)(offset + at))), _progress, _ct);
    }

    /// <summary>The tensor as host floats (norm weights: small).</summary>
    public float[] Floats(CheckpointTensor source, Device device)
    {
        using var tmp = device.AllocateTensor(DType.F32, new[] { source.Entry.ElementCount }, out var t, source.Name);
        To(source, t);
        return t.ToArray<float>();
    }
}
