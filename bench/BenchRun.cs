using GraphEngine.Bench.Reports;
using GraphEngine.Kernels;

namespace GraphEngine.Bench;

/// <summary>
/// What one `graphengine bench` call hands each of its suites: the device, the report they add to, the options and the PyTorch peers to run after.
/// </summary>
public sealed record BenchRun(Device Device, BenchReport Report, BenchOptions Options, TorchPeers Torch)
{
    public bool Gpu => Device.Kind == BackendKind.Cuda;

    /// <summary>max(bytes / copy bandwidth, flops / the rate of <paramref name="rate"/>), in ms, and which one binds.</summary>
    public (double Ms, string Bound) Floor(double bytes, double flops, MatrixRate rate = MatrixRate.Bf16)
    {
        var c = Report.Ceilings!;
        double mem = bytes / (c.CopyGBps * 1e9) * 1e3;
        double tflops = c.Rate(rate);
        double cmp = double.IsFinite(tflops) ? flops / (tflops * 1e12) * 1e3 : double.NaN;
        return !(cmp > mem) ? (mem, "memory") : (cmp, "compute");
    }
}
