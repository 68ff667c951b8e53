using GraphEngine.Kernels;
using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Bench;

/// <summary>
/// Traces real prefill steps with CUPTI (kernel, memcpy and memset records, concurrent kernels) and cuts the
/// trace into steps at host timestamps taken after each step's synchronize, so busy time and gaps are those
/// of the step as it runs, not of layers timed alone.
/// </summary>
public static class StepProfiler
{
    public const string BusyMethod =
        "CUPTI activity records of the real step (kernels, memcpy, memset): busy = length of the union of their intervals; " +
        "median over the traced steps.";

    /// <summary>A tracer, or null with the reason when CUPTI can't trace here (reference backend, no libcupti, unknown version).</summary>
    public static CuptiTracer? TryOpen(Device device, out string why)
    {
        if (device.Kind != BackendKind.Cuda)
        {
            why = "the reference backend runs on the host: there are no GPU kernels to trace";
            return null;
        }
        return CuptiTracer.TryCreate(out var tracer, out why) ? tracer : null;
    }

    /// <summary>Runs <paramref name="warmup"/> untraced steps, then traces <paramref name="steps"/> steps, one timeline each.</summary>
    public static IReadOnlyList<StepTimeline> Trace(CuptiTracer tracer, ComputeStream stream, Action step, int warmup, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        for (int i = 0; i < warmup; i++) step();
        stream.Synchronize();
        tracer.Start();
        var marks = new List<ulong>(steps + 1) { tracer.Timestamp() };
        IReadOnlyList<KernelRecord> records;
        try
        {
            for (int i = 0; i < steps; i++)
            {
                step();
                stream.Synchronize();
                marks.Add(tracer.Timestamp());
            }
        }
        finally
        {
            records = tracer.Stop();
        }
        var result = new List<StepTimeline>(steps);
        foreach (var r in StepTimeline.SplitAt(records, marks))
            if (r.Count > 0) result.Add(StepTimeline.Analyze(r));
        return result;
    }

    /// <summary>The step whose busy time is the median of <paramref name="steps"/> (a real step, for the SVG and the gap figures).</summary>
    public static StepTimeline Median(IReadOnlyList<StepTimeline> steps)
    {
        if (steps.Count == 0) throw new ArgumentException("no traced step had any record", nameof(steps));
        var sorted = steps.OrderBy(s => s.BusyNs).ToArray();
        return sorted[sorted.Length / 2];
    }
}
