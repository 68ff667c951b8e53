using System.Diagnostics;
using GraphEngine.Kernels;

namespace GraphEngine.Bench;

/// <summary>Wall time and GPU span of one repeated action, each the median over the repetitions.</summary>
public readonly record struct StepTime(double WallMs, double GpuMs, double HostMs);

/// <summary>
/// Timing helpers. Every figure is a median over repetitions after untimed warm-up runs. Wall time is
/// the host's view of one step (dispatch until the stream is idle); the GPU span is the time between
/// two events recorded on the stream around the step, which includes any time the GPU waited for the
/// host; host time is the dispatch alone (until the step's last call returns).
/// </summary>
public static class Timing
{
    public static double Median(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    public static StepTime Step(ComputeStream stream, Action step, int warmup, int reps)
    {
        for (int i = 0; i < warmup; i++) step();
        stream.Synchronize();
        using var start = stream.Device.CreateEvent();
        using var end = stream.Device.CreateEvent();
        var wall = new double[reps];
        var gpu = new double[reps];
        var host = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            start.Record(stream);
            step();
            end.Record(stream);
            host[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            stream.Synchronize();
            wall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            gpu[i] = end.ElapsedMillisecondsSince(start);
        }
        return new StepTime(Median(wall), Median(gpu), Median(host));
    }

    /// <summary>
    /// GPU time of <paramref name="work"/> from events around it, median over repetitions: for work that is one
    /// long operation (the ceiling probes' 8192^3 GEMM and 1 GiB copy), where launch latency is negligible.
    /// </summary>
    public static double GpuMs(ComputeStream stream, Action work, int warmup, int reps) => Step(stream, work, warmup, reps).GpuMs;
}
