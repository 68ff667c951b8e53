using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Numerics;

/// <summary>Host transfers of float data to and from bf16 / fp16 / f32 tensors (synchronous).</summary>
public static class TensorHostExtensions
{
    /// <summary>16-bit elements per staged copy of <see cref="UploadFloats"/> and <see cref="DownloadFloats"/> (32 MiB).</summary>
    private const int StagingElements = 1 << 24;

    /// <summary>Rounds <paramref name="values"/> to the tensor's type and uploads them.</summary>
    public static void UploadFloats(this Tensor t, ReadOnlySpan<float> values)
    {
        if (values.Length != t.ElementCount)
            throw new ArgumentException($"{values.Length} values for {t} ({t.ElementCount} elements)", nameof(values));
        switch (t.DType)
        {
            case DType.F32:
                t.CopyFrom(values);
                break;
            case DType.BF16:
            case DType.F16:
                // Staged through one buffer of at most StagingElements: weights of gigabytes are converted and copied
                // a slice at a time instead of through a second array of their size.
                t.ThrowIfReleased();   // the staged copies go to the device directly, past Tensor's own check
                var bits = GC.AllocateUninitializedArray<ushort>((int)Math.Min(values.Length, StagingElements));
                for (long start = 0; start < values.Length; start += bits.Length)
                {
                    int count = (int)Math.Min(bits.Length, values.Length - start);
                    HalfConvert.FromFloats(values.Slice((int)start, count), bits.AsSpan(0, count), t.DType);
                    t.Device.CopyToDevice(t.Ptr + 2 * start, MemoryMarshal.AsBytes(bits.AsSpan(0, count)));
                }
                break;
            default:
                throw new ArgumentException($"UploadFloats needs a BF16, F16 or F32 tensor, got {t}", nameof(t));
        }
    }

    /// <summary>The tensor's values as floats (BF16, F16 or F32); synchronous.</summary>
    public static float[] DownloadFloats(this Tensor t)
    {
        switch (t.DType)
        {
            case DType.F32:
                return t.ToArray<float>();
            case DType.BF16:
            case DType.F16:
                t.ThrowIfReleased();
                var result = GC.AllocateUninitializedArray<float>((int)t.ElementCount);
                var bits = GC.AllocateUninitializedArray<ushort>((int)Math.Min(result.Length, StagingElements));
                for (long start = 0; start < result.Length; start += bits.Length)
                {
                    int count = (int)Math.Min(bits.Length, result.Length - start);
                    t.Device.CopyToHost(MemoryMarshal.AsBytes(bits.AsSpan(0, count)), t.Ptr + 2 * start);
                    HalfConvert.ToFloats(bits.AsSpan(0, count), result.AsSpan((int)start, count), t.DType);
                }
                return result;
            default:
                throw new ArgumentException($"DownloadFloats needs a BF16, F16 or F32 tensor, got {t}", nameof(t));
        }
    }

    /// <summary>Fills the tensor with NaN (or 0xFF.. for integer types) on the stream, to catch unwritten outputs.</summary>
    public static void Poison(this Tensor t, ComputeStream stream)
    {
        switch (t.DType)
        {
            case DType.F32: stream.Fill32Async(t.Ptr, 0x7FC0_0000u, t.ElementCount); break;
            case DType.BF16: stream.Fill16Async(t.Ptr, Bf16.CanonicalNaN, t.ElementCount); break;
            case DType.F16: stream.Fill16Async(t.Ptr, 0x7FFF, t.ElementCount); break;
            default: stream.Fill8Async(t.Ptr, 0xFF, t.ByteCount); break;
        }
    }

    /// <summary>The tensor's bytes; synchronous.</summary>
    public static byte[] DownloadBytes(this Tensor t) => t.ToArray<byte>();
    /// <summary>Uploads exactly the tensor's bytes from <paramref name="bytes"/>; synchronous.</summary>
    public static void UploadBytes(this Tensor t, ReadOnlySpan<byte> bytes) => t.CopyFrom(bytes);
    /// <summary>Uploads <paramref name="v"/> into an I32 tensor of the same length; synchronous.</summary>
    public static void UploadInts(this Tensor t, ReadOnlySpan<int> v) => t.Require(nameof(t), DType.I32).CopyFrom(v);
    /// <summary>The values of an I32 tensor; synchronous.</summary>
    public static int[] DownloadInts(this Tensor t) => t.Require(nameof(t), DType.I32).ToArray<int>();
    internal static Span<byte> AsBytes<T>(Span<T> s) where T : unmanaged => MemoryMarshal.AsBytes(s);
}
