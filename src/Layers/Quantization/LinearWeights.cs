using GraphEngine.Kernels;

namespace GraphEngine.Layers.Quantization;

/// <summary>Where a Linear layer's weights [out, in] come from.</summary>
public abstract record LinearWeights(int OutFeatures, int InFeatures)
{
    /// <summary>A device tensor [N, K] of BF16, F16 or F32, copied (and quantized on the device) at load.</summary>
    public static LinearWeights FromDevice(Tensor weights)
    {
        weights.RequireRank(nameof(weights), 2);
        // The record keeps int features; a wider tensor would silently become a different shape.
        if (weights.Dim(0) > int.MaxValue || weights.Dim(1) > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(weights), $"weights {weights} have a dimension above {int.MaxValue} (out and in features are int)");
        return new DeviceWeights(weights);
    }

    /// <summary>Host float weights, row-major [N, K].</summary>
    public static LinearWeights FromHost(int outFeatures, int inFeatures, float[] weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        CheckFeatures(outFeatures, inFeatures);
        if (weights.Length != (long)outFeatures * inFeatures)
            throw new ArgumentException($"host weights hold {weights.Length} values, expected [{outFeatures}, {inFeatures}]", nameof(weights));
        return new HostWeights(outFeatures, inFeatures, weights);
    }

    /// <summary>Already-quantized weights with scales.</summary>
    public static LinearWeights Offline(QuantizedWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return new OfflineWeights(weights);
    }

    /// <summary>Uniform random weights in [-scale, scale], generated on the device (presets, benchmarks).</summary>
    public static LinearWeights Random(int outFeatures, int inFeatures, uint seed, float scale)
    {
        CheckFeatures(outFeatures, inFeatures);
        if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must be finite");
        return new RandomWeights(outFeatures, inFeatures, seed, scale);
    }

    private static void CheckFeatures(int outFeatures, int inFeatures)
    {
        if (outFeatures < 1) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "outFeatures must be >= 1");
        if (inFeatures < 1) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "inFeatures must be >= 1");
    }
}

/// <summary>Weights in a device tensor [N, K]; see <see cref="LinearWeights.FromDevice"/>.</summary>
public sealed record DeviceWeights(Tensor Weights) : LinearWeights((int)Weights.Dim(0), (int)Weights.Dim(1));
/// <summary>Host floats [Out, In], row-major; see <see cref="LinearWeights.FromHost"/>.</summary>
public sealed record HostWeights(int Out, int In, float[] Values) : LinearWeights(Out, In);
/// <summary>Already-quantized weights; see <see cref="LinearWeights.Offline"/>.</summary>
public sealed record OfflineWeights(QuantizedWeights Quantized) : LinearWeights(Quantized.OutFeatures, Quantized.InFeatures);
/// <summary>Uniform random weights in [-Scale, Scale] from Seed, made on the device; see <see cref="LinearWeights.Random"/>.</summary>
public sealed record RandomWeights(int Out, int In, uint Seed, float Scale) : LinearWeights(Out, In);
