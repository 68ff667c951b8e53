namespace GraphEngine.Kernels.Quant;

/// <summary>
/// Weight quantization on the device (load time, not capturable work but allocation-free): float
/// weights -> logical int8 q [N, K] and fp32 scales [N, groups] (<see cref="Quantize"/>), then logical
/// -> the kernel's packed layout (<see cref="Repack"/>). Same arithmetic as
/// <see cref="WeightOnlyPacking.Quantize"/>, so both backends store identical bytes.
/// </summary>
public abstract class WeightQuantize
{
    public static WeightQuantize Create(Device device) =>
        KernelBackend.Create<WeightQuantize>(device, cuda => new WeightQuantizeCuda(cuda), () => new WeightQuantizeReference());

    public void Quantize(ComputeStream stream, Tensor weights, WeightOnlyScheme scheme, Tensor q, Tensor scales)
    {
        ArgumentNullException.ThrowIfNull(stream);
        weights.RequireRank(nameof(weights), 2).RequireDevice(nameof(weights), stream.Device);
        if (weights.DType is not (DType.BF16 or DType.F16 or DType.F32))
            throw new ArgumentException($"{nameof(weights)} must be BF16, F16 or F32, got {weights}", nameof(weights));
        int n = checked((int)weights.Dim(0)), k = checked((int)weights.Dim(1));
        scheme.Validate(n, k, $"quantize {weights}");
        q.Require(nameof(q), DType.I8, n, k).RequireDevice(nameof(q), stream.Device);
        scales.Require(nameof(scales), DType.F32, n, scheme.Groups(k)).RequireDevice(nameof(scales), stream.Device);
        QuantizeCore(stream, weights, scheme, q, scales);
    }

    /// <summary>Logical q [N, K] (I8, values in [QMin, QMax]) and scales [N, groups] -> <paramref name="destination"/>.</summary>
    public void Repack(ComputeStream stream, Tensor q, Tensor scales, WeightOnlyMatrix destination)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(destination);
        var scheme = destination.Scheme;
        q.Require(nameof(q), DType.I8, destination.N, destination.K).RequireDevice(nameof(q), stream.Device);
        scales.Require(nameof(scales), DType.F32, destination.N, destination.Groups).RequireDevice(nameof(scales), stream.Device);
        RepackCore(stream, q, scales, destination);
    }

    protected abstract void QuantizeCore(ComputeStream stream, Tensor weights, WeightOnlyScheme scheme, Tensor q, Tensor scales);
    protected abstract void RepackCore(ComputeStream stream, Tensor q, Tensor scales, WeightOnlyMatrix destination);
}
