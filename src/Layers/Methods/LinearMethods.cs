using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Layers.Methods;

/// <summary>A linear method that can add a bias in its own kernel epilogue.</summary>
public interface ILinearBiasMethod : ILinearMethod
{
    /// <summary>As <see cref="ILinearMethod.Forward"/>, adding <paramref name="bias"/> [N] (null: none) in the kernel's epilogue.</summary>
    void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount, Tensor? bias);
}

/// <summary>Picks the method for a dense quant mode.</summary>
public static class LinearMethods
{
    /// <summary>Quant modes a dense Linear accepts here, for messages.</summary>
    public const string DenseModes = "none (bf16/fp16), wint8, wint4 (per channel, group 64, group 128), w8a8, w4a8 (per channel, group 128), block_wise_fp8";

    /// <summary>
    /// Builds the method for <paramref name="mode"/>: None -> cuBLASLt (Gemm family), WInt8 / WInt4 ->
    /// the weight-only kernels, W8A8 / W4A8 -> the int8-activation GEMM (per channel or group 128 for w4a8). <paramref name="groupSize"/> is per channel, 64 or 128 for wint4 and
    /// must be per channel otherwise. Loads (and quantizes) the weights on the device; allocates.
    /// </summary>
    public static ILinearMethod Create(LayerContext ctx, DType activation, QuantMode mode, GroupSize groupSize, LinearWeights weights, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(weights);
        switch (mode)
        {
            case QuantMode.None:
                if (!groupSize.IsPerChannel)
                    throw new ArgumentException($"linear '{name}': group size {groupSize.Size} given for unquantized weights (mode none); use per-channel", nameof(groupSize));
                return new CublasLinearMethod(ctx, activation, weights, name);
            case QuantMode.WInt8:
                return new WeightOnlyLinearMethod(ctx, activation, new WeightOnlyScheme(WeightOnlyFormat.Int8, groupSize), weights, name);
            case QuantMode.WInt4:
                return new WeightOnlyLinearMethod(ctx, activation, new WeightOnlyScheme(WeightOnlyFormat.Int4, groupSize), weights, name);
            case QuantMode.W8A8:
            case QuantMode.W4A8:
                return Int8ActLinearMethod.Create(ctx, activation, mode, groupSize, weights, name);
            case QuantMode.BlockWiseFp8:
                if (!groupSize.IsPerChannel)
                    throw new ArgumentException($"linear '{name}': block_wise_fp8 uses fixed 128x128 blocks; group size {groupSize.Size} given, use per-channel", nameof(groupSize));
                return WithHalfWeights(ctx, activation, weights, name, w => BlockWiseFp8LinearMethod.Quantize(ctx, w));
            default:
                throw new ArgumentException(
                    $"linear '{name}': quant mode {mode.Label()} is MoE-only; a dense Linear accepts {DenseModes}", nameof(mode));
        }
    }

    /// <summary>
    /// Puts the weights on the device in the activation type for an online quantizer that takes a device
    /// tensor, then frees the temporary. Offline weights of the weight-only formats cannot feed it.
    /// </summary>
    private static T WithHalfWeights<T>(LayerContext ctx, DType activation, LinearWeights weights, string name, Func<Tensor, T> quantize)
    {
        var device = ctx.Device;
        if (weights is DeviceWeights d)
        {
            d.Weights.Require($"{name} weights", activation).RequireDevice($"{name} weights", device);
            return quantize(d.Weights);
        }
        using var temp = device.AllocateTensor(activation, new long[] { weights.OutFeatures, weights.InFeatures }, out var w, $"{name} weights (load)");
        switch (weights)
        {
            case HostWeights h:
                w.UploadFloats(h.Values);
                break;
            case RandomWeights r:
                GraphEngine.Kernels.Random.RandomFill.Create(device).Uniform(ctx.LoadStream, w, r.Seed, r.Scale);
                break;
            default:
                throw new ArgumentException(
                    $"linear '{name}': {weights.GetType().Name} cannot be quantized online to this mode; load pre-quantized block_wise_fp8 weights with BlockWiseFp8LinearMethod.FromPrequantized", nameof(weights));
        }
        var method = quantize(w);
        ctx.LoadStream.Synchronize();
        return method;
    }
}
