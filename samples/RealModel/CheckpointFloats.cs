using System.Runtime.InteropServices;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Samples.RealModel;

/// <summary>Small checkpoint tensors (norm weights) as host floats.</summary>
public static class CheckpointFloats
{
    /// <summary>The values of <paramref name="tensor"/> (bf16, f16 or f32), row-major.</summary>
    public static float[] Read(CheckpointTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var bytes = tensor.Bytes;
        return tensor.KernelDType switch
        {
            DType.F32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            DType.BF16 or DType.F16 => Convert(MemoryMarshal.Cast<byte, ushort>(bytes), tensor.KernelDType.Value),
            _ => throw new CheckpointException(tensor.File.Path, tensor.Name, $"is {tensor.DType.HeaderName()}; the sample reads bf16, f16 or f32"),
        };
    }

    private static float[] Convert(ReadOnlySpan<ushort> bits, DType dtype)
    {
        var v = new float[bits.Length];
        for (int i = 0; i < v.Length; i++) v[i] = HalfBits.ToFloat(bits[i], dtype);
        return v;
    }
}
