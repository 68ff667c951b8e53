using GraphEngine.Bench.Reports;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Bench;

/// <summary>
/// Measures the two ceilings every floor is computed from, in the same process as the figures:
/// device-to-device copy bandwidth (counting bytes read plus written, buffers several times the L2 so
/// the copy streams from DRAM) and the bf16 matrix rate of the Gemm family (cuBLASLt) at 8192³.
/// On the reference backend the shapes shrink so the probe stays quick; its figures are the host's.
/// </summary>
public static class CeilingProbe
{
    public static Ceilings Measure(Device device, int warmup, int reps, List<Missing> missing)
    {
        bool gpu = device.Kind == BackendKind.Cuda;
        long l2 = Math.Max(device.Info.L2CacheBytes, 1L << 20);
        long copyBytes = gpu ? Math.Max(8 * l2, 512L << 20) : 8L << 20;
        double copyGBps = Copy(device, copyBytes, warmup, reps);

        int dim = gpu ? 8192 : 256;
        double tflops = double.NaN;
        try
        {
            tflops = Matrix(device, dim, warmup, reps);
        }
        catch (Exception e) when (e is NotImplementedException or NotSupportedException or GraphEngineException)
        {
            missing.Add(new Missing($"bf16 matrix rate ({dim}^3)", $"not built: {e.Message}"));
        }
        return new Ceilings(copyGBps, copyBytes, tflops, $"bf16 {dim}x{dim}x{dim}",
            "Median of CUDA-event times after warm-up; copy counts bytes read + written.");
    }

    private static double Copy(Device device, long bytes, int warmup, int reps)
    {
        using var src = device.Allocate(bytes, "ceiling copy src");
        using var dst = device.Allocate(bytes, "ceiling copy dst");
        var s = device.DefaultStream;
        RandomFill.Create(device).Uniform(s, src.AsTensor(DType.F32, bytes / 4), 17, 1f);
        var t = Timing.GpuBusy(s, null, () => s.CopyAsync(dst.Ptr, src.Ptr, bytes), warmup, reps);
        return 2.0 * bytes / (t.Ms * 1e-3) / 1e9;
    }

    private static double Matrix(Device device, int dim, int warmup, int reps)
    {
        var s = device.DefaultStream;
        using var gemm = Gemm.Create(device);
        using var ab = device.AllocateTensor(DType.BF16, new long[] { dim, dim }, out var a, "ceiling gemm a");
        using var wb = device.AllocateTensor(DType.BF16, new long[] { dim, dim }, out var w, "ceiling gemm w");
        using var cb = device.AllocateTensor(DType.BF16, new long[] { dim, dim }, out var c, "ceiling gemm c");
        var fill = RandomFill.Create(device);
        fill.Uniform(s, a, 1, 1f);
        fill.Uniform(s, w, 2, 1f / MathF.Sqrt(dim));
        var t = Timing.GpuBusy(s, null, () => gemm.MatMul(s, a, w, c, dim), warmup, reps);
        return 2.0 * dim * dim * (double)dim / (t.Ms * 1e-3) / 1e12;
    }
}
