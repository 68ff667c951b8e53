using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// wint8 / wint4 weights in the weight-only kernel's packed layout. Weights arrive as a device tensor
/// or host floats (quantized on the device: online quantization), as random device weights (generated
/// in a temporary bf16 buffer, then quantized), or already quantized with scales (offline). Temporaries
/// live only during construction.
/// </summary>
public sealed class WeightOnlyLinearMethod : ILinearBiasMethod
{
    private readonly WeightOnlyMatrix _matrix;
    private readonly WeightOnlyGemm _gemm;
    private readonly WeightOnlyPlan _plan;

    public WeightOnlyLinearMethod(LayerContext ctx, DType activation, WeightOnlyScheme scheme, LinearWeights weights, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(weights);
        if (!activation.IsHalfPrecisionFloat())
            throw new ArgumentException($"linear '{name}': activation type must be BF16 or F16, got {activation}", nameof(activation));
        int n = weights.OutFeatures, k = weights.InFeatures;
        scheme.Validate(n, k, $"linear '{name}' ({scheme.Label})");
        if (weights is OfflineWeights o && o.Quantized.Scheme != scheme)
            throw new ArgumentException($"linear '{name}': offline weights are {o.Quantized.Scheme.Label} but the layer is {scheme.Label}", nameof(weights));

        var device = ctx.Device;
        var stream = ctx.LoadStream;
        var quantize = WeightQuantize.Create(device);
        _matrix = new WeightOnlyMatrix(device, scheme, n, k, name);
        var temps = new List<IDisposable>();
        try
        {
            temps.Add(device.AllocateTensor(DType.I8, new long[] { n, k }, out var q, $"{name} q (load)"));
            temps.Add(device.AllocateTensor(DType.F32, new long[] { n, scheme.Groups(k) }, out var s, $"{name} scales (load)"));
            switch (weights)
            {
                case DeviceWeights d:
                    d.Weights.RequireDevice("weights", device);
                    quantize.Quantize(stream, d.Weights, scheme, q, s);
                    break;
                case HostWeights h:
                    temps.Add(device.AllocateTensor(DType.F32, new long[] { n, k }, out var hw, $"{name} float weights (load)"));
                    hw.CopyFrom<float>(h.Values);
                    quantize.Quantize(stream, hw, scheme, q, s);
                    break;
                case RandomWeights r:
                    temps.Add(device.AllocateTensor(DType.BF16, new long[] { n, k }, out var rw, $"{name} random weights (load)"));
                    RandomFill.Create(device).Uniform(stream, rw, r.Seed, r.Scale);
                    quantize.Quantize(stream, rw, scheme, q, s);
                    break;
                case OfflineWeights off:
                    q.CopyFrom<sbyte>(off.Quantized.Values);
                    s.CopyFrom<float>(off.Quantized.Scales);
                    break;
                default:
                    throw new ArgumentException($"linear '{name}': unknown weight source {weights.GetType().Name}", nameof(weights));
            }
            quantize.Repack(stream, q, s, _matrix);
            stream.Synchronize();
            _gemm = WeightOnlyGemm.Create(device);
            _plan = _gemm.Plan(_matrix, activation, ctx.MaxTokens);
        }
        catch
        {
            _matrix.Dispose();
            throw;
        }
        finally
        {
            for (int i = temps.Count - 1; i >= 0; i--) temps[i].Dispose();
        }
        Scheme = scheme;
        Activation = activation;
    }

    public QuantMode Mode => Scheme.Format == WeightOnlyFormat.Int8 ? QuantMode.WInt8 : QuantMode.WInt4;
    public WeightOnlyScheme Scheme { get; }
    public string Label => Scheme.Label;
    public DType Activation { get; }
    public int InFeatures => _matrix.K;
    public int OutFeatures => _matrix.N;
    public long WeightBytes => _matrix.Bytes;
    public WeightOnlyMatrix Matrix => _matrix;
    public WeightOnlyPlan Plan => _plan;

    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount) =>
        Forward(stream, input, output, paddedRows, tokenCount, null);

    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount, Tensor? bias) =>
        _gemm.MatMul(stream, input, _plan, output, paddedRows, tokenCount, bias);

    public float[] DequantizedWeights() => _matrix.Dequantize();

    public void Dispose()
    {
        _plan.Dispose();
        _matrix.Dispose();
    }
}
