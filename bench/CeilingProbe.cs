using GraphEngine.Bench.Reports;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Bench;

/// <summary>
/// Measures the ceilings every floor is computed from, in the same process as the figures:
/// device-to-device copy bandwidth (counting bytes read plus written, buffers several times the L2 so
/// the copy streams from DRAM) and the bf16, fp8 e4m3 and int8 matrix rates of cuBLASLt at 8192³.
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
        double fp8 = double.NaN;
        try
        {
            fp8 = Fp8Matrix(device, dim, warmup, reps);
        }
        catch (Exception e) when (e is NotImplementedException or NotSupportedException or GraphEngineException or ArgumentException)
        {
            missing.Add(new Missing($"fp8 e4m3 matrix rate ({dim}^3)", $"not measured: {e.Message}"));
        }
        double int8 = double.NaN;
        try
        {
            int8 = Int8Matrix(device, dim, warmup, reps);
        }
        catch (Exception e) when (e is NotImplementedException or NotSupportedException or GraphEngineException or ArgumentException)
        {
            missing.Add(new Missing($"int8 matrix rate ({dim}^3)", $"not measured: {e.Message}"));
        }
        return new Ceilings(copyGBps, copyBytes, tflops, $"bf16 {dim}x{dim}x{dim}",
            "Median of CUDA-event times after warm-up; copy counts bytes read + written; fp8 is cuBLASLt e4m3 x e4m3 -> bf16, " +
            "per-tensor scales, and int8 cuBLASLt int8 x int8 -> int32, both at the same shape.", fp8, int8);
    }

    private static double Copy(Device device, long bytes, int warmup, int reps)
    {
        using var src = device.Allocate(bytes, "ceiling copy src");
        using var dst = device.Allocate(bytes, "ceiling copy dst");
        var s = device.DefaultStream;
        RandomFill.Create(device).Uniform(s, src.AsTensor(DType.F32, bytes / 4), 17, 1f);
        double ms = Timing.GpuMs(s, () => s.CopyAsync(dst.Ptr, src.Ptr, bytes), warmup, reps);
        return 2.0 * bytes / (ms * 1e-3) / 1e9;
    }

    private static double Fp8Matrix(Device device, int dim, int warmup, int reps)
    {
        if (device.Kind == BackendKind.Cuda && device.Info.ComputeMajor * 10 + device.Info.ComputeMinor < 89)
            throw new NotSupportedException($"{device.Info.Name} ({device.Info.Architecture}) has no fp8 tensor cores");
        var s = device.DefaultStream;
        using var gemm = Fp8PerTensorGemm.Create(device);
        using var o = new Operands(device, dim, DType.Fp8E4M3, DType.BF16, "fp8");
        var (a, w, c) = (o.A, o.W, o.C);
        using var sb = device.AllocateTensor(DType.F32, new long[] { 1 }, out var scale, "ceiling fp8 scale");
        // Random values, as for bf16: tensor-core power (so clocks) depends on the data, and zeros run faster.
        using (var fb = device.AllocateTensor(DType.F32, new long[] { dim, dim }, out var f32, "ceiling fp8 source"))
        {
            var fill = RandomFill.Create(device);
            var convert = FormatConvert.Create(device);
            fill.Uniform(s, f32, 3, 1f);
            convert.EncodeFp8(s, f32, a, Fp8Saturation.SatFinite);
            fill.Uniform(s, f32, 4, 1f / MathF.Sqrt(dim));
            convert.EncodeFp8(s, f32, w, Fp8Saturation.SatFinite);
            s.Synchronize();
        }
        s.Fill32Async(scale.Ptr, 0x3f800000u, 1);
        return Tflops(dim, Timing.GpuMs(s, () => gemm.MatMul(s, a, scale, w, scale, c, dim), warmup, reps));
    }

    private static double Int8Matrix(Device device, int dim, int warmup, int reps)
    {
        var s = device.DefaultStream;
        using var gemm = Int8Gemm.Create(device);
        using var o = new Operands(device, dim, DType.I8, DType.I32, "int8");
        var (a, w, c) = (o.A, o.W, o.C);
        // Random bytes (every int8 value), as for bf16: zeros would draw less power and clock higher.
        var bytes = new byte[(long)dim * dim];
        var rng = new System.Random(5);
        rng.NextBytes(bytes);
        a.UploadBytes(bytes);
        rng.NextBytes(bytes);
        w.UploadBytes(bytes);
        return Tflops(dim, Timing.GpuMs(s, () => gemm.MatMul(s, a, w, c, dim), warmup, reps));
    }

    private static double Matrix(Device device, int dim, int warmup, int reps)
    {
        var s = device.DefaultStream;
        using var gemm = Gemm.Create(device);
        using var o = new Operands(device, dim, DType.BF16, DType.BF16, "bf16");
        var (a, w, c) = (o.A, o.W, o.C);
        var fill = RandomFill.Create(device);
        fill.Uniform(s, a, 1, 1f);
        fill.Uniform(s, w, 2, 1f / MathF.Sqrt(dim));
        return Tflops(dim, Timing.GpuMs(s, () => gemm.MatMul(s, a, w, c, dim), warmup, reps));
    }

    /// <summary>T(FL)OP/s of one dim³ product that took <paramref name="ms"/>.</summary>
    private static double Tflops(int dim, double ms) => 2.0 * dim * dim * (double)dim / (ms * 1e-3) / 1e12;

    /// <summary>The square A, W and C of one rate probe, freed together.</summary>
    private sealed class Operands : IDisposable
    {
        private readonly DeviceBuffer _a, _w, _c;
        public Tensor A { get; }
        public Tensor W { get; }
        public Tensor C { get; }

        public Operands(Device device, int dim, DType input, DType output, string what)
        {
            _a = device.AllocateTensor(input, new long[] { dim, dim }, out var a, $"ceiling {what} a");
            try
            {
                _w = device.AllocateTensor(input, new long[] { dim, dim }, out var w, $"ceiling {what} w");
                try
                {
                    _c = device.AllocateTensor(output, new long[] { dim, dim }, out var c, $"ceiling {what} c");
                    (A, W, C) = (a, w, c);
                }
                catch
                {
                    _w.Dispose();
                    throw;
                }
            }
            catch
            {
                _a.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            _c.Dispose();
            _w.Dispose();
            _a.Dispose();
        }
    }
}
