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
    private bool _disposed;
    private readonly WeightOnlyMatrix _matrix;
    private readonly WeightOnlyGemm _gemm;
    private readonly WeightOnlyPlan _plan;

    /// <summary>Quantizes (or takes already quantized) <paramref name="weights"/> [N, K] per <paramref name="scheme"/> into the kernel's packed layout for <paramref name="activation"/> inputs; <paramref name="name"/> labels the allocations.</summary>
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
            if (!QuantizeSource(device, stream, quantize, weights, scheme, q, s, name, temps))
            {
                if (weights is not OfflineWeights off)
                    throw new ArgumentException($"linear '{name}': unknown weight source {weights.GetType().Name}", nameof(weights));
                q.CopyFrom<sbyte>(off.Quantized.Values);
                s.CopyFrom<float>(off.Quantized.Scales);
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

    /// <see cref="QuantMode.WInt8"/> or <see cref="QuantMode.WInt4"/>, from the scheme.
    public QuantMode Mode => Scheme.Format == WeightOnlyFormat.Int8 ? QuantMode.WInt8 : QuantMode.WInt4;
    /// <summary>Format (int8 or int4) and group size of the weights.</summary>
    public WeightOnlyScheme Scheme { get; }
    /// <inheritdoc/>
    public string Label => Scheme.Label;
    /// <summary>The activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <inheritdoc/>
    public int InFeatures => _matrix.K;
    /// <inheritdoc/>
    public int OutFeatures => _matrix.N;
    /// <inheritdoc/>
    public long WeightBytes => _matrix.Bytes;
    /// <summary>The packed weights and scales on the device, owned by the method.</summary>
    public WeightOnlyMatrix Matrix => _matrix;
    /// <summary>The kernel's launch plan and workspace for <see cref="Matrix"/>, owned by the method.</summary>
    public WeightOnlyPlan Plan => _plan;

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount) =>
        Forward(stream, input, output, paddedRows, tokenCount, null);

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount, Tensor? bias)
    {
        // The plan holds raw weight addresses, which no tensor check sees freed.
        ObjectDisposedException.ThrowIf(_disposed, this);
        _gemm.MatMul(stream, input, _plan, output, paddedRows, tokenCount, bias);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights() => _matrix.Dequantize();

    /// <summary>Frees the plan and the matrix.</summary>
    public void Dispose()
    {
        _disposed = true;
        _plan.Dispose();
        _matrix.Dispose();
    }

    /// <summary>
    /// Quantizes a device, host or random weight source into logical codes <paramref name="q"/> and scales
    /// <paramref name="s"/> with the device quantizer, adding the load-time buffers it needs to <paramref name="temps"/>;
    /// false for any other source (the caller's to handle). The weight-only and the int8-activation Linears share it.
    /// </summary>
    internal static bool QuantizeSource(Device device, ComputeStream stream, WeightQuantize quantize, LinearWeights weights,
                                        WeightOnlyScheme scheme, Tensor q, Tensor s, string name, List<IDisposable> temps)
    {
        int n = weights.OutFeatures, k = weights.InFeatures;
        switch (weights)
        {
            case DeviceWeights d:
                d.Weights.RequireDevice("weights", device);
                quantize.Quantize(stream, d.Weights, scheme, q, s);
                return true;
            case HostWeights h:
                temps.Add(device.AllocateTensor(DType.F32, new long[] { n, k }, out var hw, $"{name} float weights (load)"));
                hw.CopyFrom<float>(h.Values);
                quantize.Quantize(stream, hw, scheme, q, s);
                return true;
            case RandomWeights r:
                temps.Add(device.AllocateTensor(DType.BF16, new long[] { n, k }, out var rw, $"{name} random weights (load)"));
                RandomFill.Create(device).Uniform(stream, rw, r.Seed, r.Scale);
                quantize.Quantize(stream, rw, scheme, q, s);
                return true;
            default:
                return false;
        }
    }
}
