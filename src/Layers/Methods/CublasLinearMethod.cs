using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Layers.Methods;

/// <summary>Unquantized bf16/fp16 weights [N, K] through the Gemm family (cuBLASLt on CUDA).</summary>
public sealed class CublasLinearMethod : ILinearBiasMethod
{
    private bool _disposed;
    private readonly DeviceBuffer _weightBuf;
    private readonly Gemm _gemm;

    /// <summary>Copies (or generates) <paramref name="weights"/> [N, K] into a device tensor of <paramref name="activation"/> type; <paramref name="name"/> labels the allocation.</summary>
    public CublasLinearMethod(LayerContext ctx, DType activation, LinearWeights weights, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(weights);
        if (!activation.IsHalfPrecisionFloat())
            throw new ArgumentException($"linear '{name}': activation type must be BF16 or F16, got {activation}", nameof(activation));
        int n = weights.OutFeatures, k = weights.InFeatures;
        if (n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(weights), $"linear '{name}': weights [{n}, {k}] must be non-empty");
        if (weights is OfflineWeights o)
            throw new ArgumentException($"linear '{name}': offline {o.Quantized.Scheme.Label} weights need quant mode wint8/wint4, not none", nameof(weights));
        if (weights is DeviceWeights dw && dw.Weights.DType != activation)
            throw new ArgumentException($"linear '{name}': unquantized device weights must be {activation} like the activations, got {dw.Weights}", nameof(weights));

        var device = ctx.Device;
        var stream = ctx.LoadStream;
        _weightBuf = device.AllocateTensor(activation, new long[] { n, k }, out var w, $"{name} weight");
        try
        {
            switch (weights)
            {
                case DeviceWeights d:
                    d.Weights.RequireDevice("weights", device);
                    stream.CopyAsync(w.Ptr, d.Weights.Ptr, w.ByteCount);
                    break;
                case HostWeights h:
                    w.UploadFloats(h.Values);
                    break;
                case RandomWeights r:
                    RandomFill.Create(device).Uniform(stream, w, r.Seed, r.Scale);
                    break;
                default:
                    throw new ArgumentException($"linear '{name}': unknown weight source {weights.GetType().Name}", nameof(weights));
            }
            stream.Synchronize();
            _gemm = Gemm.Create(device);
        }
        catch
        {
            _weightBuf.Dispose();
            throw;
        }
        Weight = w;
        Activation = activation;
        InFeatures = k;
        OutFeatures = n;
    }

    /// <inheritdoc/>
    public QuantMode Mode => QuantMode.None;
    /// <inheritdoc/>
    public string Label => Activation == DType.BF16 ? "bf16" : "fp16";
    /// <summary>The weight and activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <inheritdoc/>
    public int InFeatures { get; }
    /// <inheritdoc/>
    public int OutFeatures { get; }
    /// <summary>The weights [N, K] on the device, owned by the method.</summary>
    public Tensor Weight { get; }
    /// <inheritdoc/>
    public long WeightBytes => Weight.ByteCount;

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount) =>
        Forward(stream, input, output, paddedRows, tokenCount, null);

    /// <summary>cuBLASLt computes every padded row (it cannot read the device count); padded rows never touch valid ones.</summary>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount, Tensor? bias)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _gemm.MatMul(stream, input, Weight, output, paddedRows, bias);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights() => Weight.DownloadFloats();

    /// <summary>Frees the GEMM handle and the weights.</summary>
    public void Dispose()
    {
        _disposed = true;
        _gemm?.Dispose();
        _weightBuf.Dispose();
    }
}
