using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Graph.Conformance;

/// <summary>Conformance cases of the device layer: memory, copies, compile, launch, capture.</summary>
public static class DeviceCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        foreach (var dtype in new[] { DType.F32, DType.BF16, DType.F16 })
            yield return new ConformanceCase($"device/random-fill/{dtype}/n=100003", "device", d => RandomFillMatchesHost(d, dtype, 100_003));
    }

    // The fill is a pure function of (seed, index): the device must reproduce the host definition exactly.
    private static CaseResult RandomFillMatchesHost(Device device, DType dtype, int count)
    {
        using var buf = device.AllocateTensor(dtype, new long[] { count }, out var t, "random-fill");
        var stream = device.DefaultStream;
        t.Poison(stream);
        RandomFill.Create(device).Uniform(stream, t, seed: 1234, scale: 0.5f, offset: 0.25f);
        stream.Synchronize();
        var actual = t.DownloadFloats();
        var expected = new float[count];
        for (int i = 0; i < count; i++)
        {
            float v = RandomFill.UniformValue(i, 1234, 0.5f, 0.25f);
            expected[i] = dtype == DType.F32 ? v : HalfBits.ToFloat(HalfBits.FromFloat(v, dtype), dtype);
        }
        return Checks.BitEqual($"uniform fill {dtype}[{count}]", expected, actual);
    }
}
