namespace GraphEngine.Kernels.Quant;

/// <summary>
/// Weight quantization on the device (load time, not capturable work but allocation-free): float
/// weights -> logical int8 q [N, K] and fp32 scales [N, groups] (<see cref="Quantize"/>), then logical
/// -> the kernel's packed layout (<see cref="Repack"/>). Same arithmetic as
/// <see cref="WeightOnlyPacking.Quantize"/>, so both backends store identical bytes.
/// </summary>
public abstract class WeightQuantize
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static WeightQuantize Create(Device device) =>
        KernelBackend.Create<WeightQuantize>(device, cuda => new WeightQuantizeCuda(cuda), () => new WeightQuantizeReference());

    /// <summary>Quantizes float <paramref name="weights"/> [N, K] per <paramref name="scheme"/> into logical <paramref name="q"/> I8 [N, K] and <paramref name="scales"/> F32 [N, groups] on <paramref name="stream"/>.</summary>
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

    /// <summary>The backend's kernel behind <see cref="Quantize"/>, called once the arguments are checked.</summary>
    protected abstract void QuantizeCore(ComputeStream stream, Tensor weights, WeightOnlyScheme scheme, Tensor q, Tensor scales);
    /// <summary>The backend's kernel behind <see cref="Repack"/>, called once the arguments are checked.</summary>
    protected abstract void RepackCore(ComputeStream stream, Tensor q, Tensor scales, WeightOnlyMatrix destination);
}
