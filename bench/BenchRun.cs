using GraphEngine.Hosting;
using GraphEngine.Bench.Reports;
using GraphEngine.Kernels;

namespace GraphEngine.Bench;

/// <summary>
/// What one `graphengine bench` call hands each of its suites: the device, the report they add to, the
/// blocker that hides launch gaps (null off the GPU), the options and the PyTorch peers to run after.
/// </summary>
public sealed record BenchRun(Device Device, BenchReport Report, Blocker? Blocker, BenchOptions Options, TorchPeers Torch)
{
    public bool Gpu => Device.Kind == BackendKind.Cuda;

    /// <summary>max(bytes / copy bandwidth, flops / matrix rate), in ms, and which one binds.</summary>
    public (double Ms, string Bound) Floor(double bytes, double flops)
    {
        var c = Report.Ceilings!;
        double mem = bytes / (c.CopyGBps * 1e9) * 1e3;
        double cmp = double.IsFinite(c.MatrixTflops) ? flops / (c.MatrixTflops * 1e12) * 1e3 : double.NaN;
        return !(cmp > mem) ? (mem, "memory") : (cmp, "compute");
    }
}
