using GraphEngine.Kernels;
using GraphEngine.Kernels.WeightOnly;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Layers.Backends;

/// <summary>A linear backend that can add a bias in its own kernel epilogue.</summary>
public interface ILinearBiasBackend : ILinearBackend
{
    void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount, Tensor? bias);
}

/// <summary>Picks the backend for a dense quant mode.</summary>
public static class LinearBackends
{
    /// <summary>Quant modes a dense Linear accepts here, for messages.</summary>
    public const string DenseModes = "none (bf16/fp16), wint8, wint4 (per channel, group 64, group 128)";

    /// <summary>
    /// Builds the backend for <paramref name="mode"/>: None -> cuBLASLt (Gemm family), WInt8 / WInt4 ->
    /// the weight-only kernels. <paramref name="groupSize"/> is 0 (per channel), 64 or 128 for wint4 and
    /// must be 0 otherwise. Loads (and quantizes) the weights on the device; allocates.
    /// </summary>
    public static ILinearBackend Create(LayerContext ctx, DType activation, QuantMode mode, int groupSize, LinearWeights weights, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(weights);
        switch (mode)
        {
            case QuantMode.None:
                if (groupSize != 0)
                    throw new ArgumentException($"linear '{name}': group size {groupSize} given for unquantized weights (mode none); use 0", nameof(groupSize));
                return new CublasLinearBackend(ctx, activation, weights, name);
            case QuantMode.WInt8:
                return new WeightOnlyLinearBackend(ctx, activation, new WeightOnlyScheme(WeightOnlyFormat.Int8, groupSize), weights, name);
            case QuantMode.WInt4:
                return new WeightOnlyLinearBackend(ctx, activation, new WeightOnlyScheme(WeightOnlyFormat.Int4, groupSize), weights, name);
            case QuantMode.BlockWiseFp8:
                throw new NotSupportedException(
                    $"linear '{name}': the block_wise_fp8 backend comes from the low-precision work and is not part of this build");
            default:
                throw new ArgumentException(
                    $"linear '{name}': quant mode {mode.Label()} is MoE-only; a dense Linear accepts {DenseModes}, block_wise_fp8", nameof(mode));
        }
    }
}
