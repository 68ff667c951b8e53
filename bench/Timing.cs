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
    /// GPU execution time of <paramref name="work"/> without host launch gaps: a large device copy is
    /// enqueued first so that the host has queued all of the work's launches before the GPU reaches
    /// them; the events around the work then time its kernels back to back. Returns the median and
    /// whether the host's dispatch outran the blocker (then the figure may include launch gaps).
    /// </summary>
    public static (double Ms, bool HostBound) GpuBusy(ComputeStream stream, Blocker? blocker, Action work, int warmup, int reps)
    {
        for (int i = 0; i < warmup; i++) work();
        stream.Synchronize();
        using var start = stream.Device.CreateEvent();
        using var end = stream.Device.CreateEvent();
        var times = new double[reps];
        int hostBound = 0;
        for (int i = 0; i < reps; i++)
        {
            blocker?.Enqueue(stream);
            long t0 = Stopwatch.GetTimestamp();
            start.Record(stream);
            work();
            end.Record(stream);
            double dispatch = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            stream.Synchronize();
            times[i] = end.ElapsedMillisecondsSince(start);
            if (blocker is not null && dispatch > blocker.Ms) hostBound++;
        }
        return (Median(times), hostBound > reps / 2);
    }
}

/// <summary>A device-to-device copy long enough to let the host run ahead of the GPU (see <see cref="Timing.GpuBusy"/>).</summary>
public sealed class Blocker : IDisposable
{
    private readonly DeviceBuffer _src, _dst;

    public Blocker(Device device, long bytes)
    {
        _src = device.Allocate(bytes, "bench blocker src");
        _dst = device.Allocate(bytes, "bench blocker dst");
        Bytes = bytes;
        var s = device.DefaultStream;
        s.Fill32Async(_src.Ptr, 0x3f800001u, bytes / 4);
        // Measure how long it keeps the GPU busy, so a dispatch that outlasts it can be flagged.
        using var a = device.CreateEvent();
        using var b = device.CreateEvent();
        var t = new double[5];
        for (int i = 0; i < t.Length; i++)
        {
            a.Record(s);
            s.CopyAsync(_dst.Ptr, _src.Ptr, bytes);
            b.Record(s);
            s.Synchronize();
            t[i] = b.ElapsedMillisecondsSince(a);
        }
        Ms = Timing.Median(t);
    }

    public long Bytes { get; }
    public double Ms { get; }

    public void Enqueue(ComputeStream stream) => stream.CopyAsync(_dst.Ptr, _src.Ptr, Bytes);

    public void Dispose()
    {
        _dst.Dispose();
        _src.Dispose();
    }
}
