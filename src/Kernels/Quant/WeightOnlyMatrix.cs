using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Kernels.Quant;

/// <summary>
/// A weight-only quantized [N, K] matrix on the device in the kernel's packed layout: packed q bytes
/// (U8) and fp32 scales [groups, Npad]. Owns its memory.
/// </summary>
public sealed class WeightOnlyMatrix : IDisposable
{
    private readonly DeviceBuffer _packedBuf;
    private readonly DeviceBuffer _scalesBuf;

    /// <summary>Allocates packed weights and scales for [<paramref name="n"/>, <paramref name="k"/>] in <paramref name="scheme"/> on <paramref name="device"/>, labelled <paramref name="tag"/>; filled by <see cref="WeightQuantize.Repack"/>.</summary>
    public WeightOnlyMatrix(Device device, WeightOnlyScheme scheme, int n, int k, string tag = "")
    {
        ArgumentNullException.ThrowIfNull(device);
        scheme.Validate(n, k, $"weight-only matrix '{tag}'");
        Scheme = scheme;
        N = n;
        K = k;
        _packedBuf = device.AllocateTensor(DType.U8, new[] { WeightOnlyPacking.PackedBytes(scheme.Format, n, k) }, out var packed, $"{tag} packed");
        try
        {
            _scalesBuf = device.AllocateTensor(DType.F32, new long[] { Groups, PaddedN }, out var scales, $"{tag} scales");
            Scales = scales;
        }
        catch
        {
            _packedBuf.Dispose();
            throw;
        }
        Packed = packed;
    }

    /// <summary>The device the matrix is on.</summary>
    public Device Device => Packed.Device;
    /// <summary>Format and group size.</summary>
    public WeightOnlyScheme Scheme { get; }
    /// <summary>N: output channels (rows of W).</summary>
    public int N { get; }
    /// <summary>K: input channels (columns of W).</summary>
    public int K { get; }
    /// <summary>N padded to the kernel's 16-channel tile.</summary>
    public int PaddedN => WeightOnlyPacking.PaddedN(N);
    /// <summary>K chunks of the packed layout (K padded to 64).</summary>
    public int ChunksK => WeightOnlyPacking.ChunksK(Scheme.Format, K);
    /// <summary>Scale groups along K.</summary>
    public int Groups => Scheme.Groups(K);
    /// <summary>The packed q bytes (U8), in the kernel's layout.</summary>
    public Tensor Packed { get; }
    /// <summary>Scales F32 [groups, PaddedN].</summary>
    public Tensor Scales { get; }
    /// <summary>Bytes of weights and scales.</summary>
    public long Bytes => Packed.ByteCount + Scales.ByteCount;

    /// <summary>Downloads and dequantizes (q * scale) to float [N, K]. Synchronous.</summary>
    public float[] Dequantize()
    {
        var packed = Packed.DownloadBytes();
        var scales = Scales.DownloadFloats();
        return WeightOnlyPacking.Dequantize(Scheme, packed, scales, N, K);
    }

    /// <summary>Frees the weights and scales.</summary>
    public void Dispose()
    {
        _scalesBuf.Dispose();
        _packedBuf.Dispose();
    }
}
