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

    public Device Device => Packed.Device;
    public WeightOnlyScheme Scheme { get; }
    public int N { get; }
    public int K { get; }
    public int PaddedN => WeightOnlyPacking.PaddedN(N);
    public int ChunksK => WeightOnlyPacking.ChunksK(Scheme.Format, K);
    public int Groups => Scheme.Groups(K);
    public Tensor Packed { get; }
    public Tensor Scales { get; }
    public long Bytes => Packed.ByteCount + Scales.ByteCount;

    /// <summary>Downloads and dequantizes (q * scale) to float [N, K]. Synchronous.</summary>
    public float[] Dequantize()
    {
        var packed = Packed.DownloadBytes();
        var scales = Scales.DownloadFloats();
        return WeightOnlyPacking.Dequantize(Scheme, packed, scales, N, K);
    }

    public void Dispose()
    {
        _scalesBuf.Dispose();
        _packedBuf.Dispose();
    }
}
