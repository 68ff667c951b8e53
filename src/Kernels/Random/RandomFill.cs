namespace GraphEngine.Kernels.Random;

/// <summary>
/// Deterministic uniform random fill on the device (weights for presets, test inputs). Both backends
/// compute the same pure function of (seed, index), so a tensor filled on the GPU equals the one filled
/// by the reference backend bit for bit.
/// This is the pattern every kernel family follows: a public contract that validates (this class),
/// a CUDA launcher and a managed reference, picked once per device by <see cref="Create"/>.
/// </summary>
public abstract class RandomFill
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static RandomFill Create(Device device) =>
        KernelBackend.Create<RandomFill>(device, cuda => new RandomFillCuda(cuda), () => new RandomFillReference());

    /// <summary>Fills <paramref name="output"/> with (2u - 1) * scale + offset, u uniform in [0, 1).</summary>
    public void Uniform(ComputeStream stream, Tensor output, uint seed, float scale, float offset = 0f)
    {
        ArgumentNullException.ThrowIfNull(stream);
        output.RequireDevice(nameof(output), stream.Device);
        if (output.DType is not (DType.BF16 or DType.F16 or DType.F32))
            throw new ArgumentException($"{nameof(output)} must be BF16, F16 or F32, got {output}", nameof(output));
        if (!float.IsFinite(scale) || !float.IsFinite(offset))
            throw new ArgumentOutOfRangeException(nameof(scale), $"scale {scale} and offset {offset} must be finite");
        if (output.ElementCount == 0) return;
        UniformCore(stream, output, seed, scale, offset);
    }

    /// <summary>The backend's kernel behind <see cref="Uniform"/>, called once the arguments are checked.</summary>
    protected abstract void UniformCore(ComputeStream stream, Tensor output, uint seed, float scale, float offset);

    /// <summary>The value the device writes at <paramref name="index"/>, in float before the final rounding.</summary>
    public static float UniformValue(long index, uint seed, float scale, float offset)
    {
        uint mixed = (uint)index ^ unchecked((uint)(index >> 32) * 0x9e3779b9U);
        uint h = Hash32(seed ^ Hash32(mixed));
        float u = (h >> 8) * (1.0f / 16777216.0f);
        return (2.0f * u - 1.0f) * scale + offset;
    }

    /// <summary>lowbias32, as ge_hash32 in native/common.cuh.</summary>
    public static uint Hash32(uint x)
    {
        unchecked
        {
            x ^= x >> 16; x *= 0x7feb352dU;
            x ^= x >> 15; x *= 0x846ca68bU;
            x ^= x >> 16;
            return x;
        }
    }
}
