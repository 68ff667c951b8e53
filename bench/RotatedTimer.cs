using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;

namespace GraphEngine.Bench;

/// <summary>How many instances with their own weights one timed graph holds, and how many times it runs them.</summary>
public readonly record struct Rotation(int Instances, int Repeats)
{
    /// <summary>Calls in one replay; a replay's GPU time divided by this is the time of one call.</summary>
    public int Calls => Instances * Repeats;
}

/// <summary>
/// Times one kernel (or layer) the way FlashInfer's bench utilities and triton.testing.do_bench do, and the
/// way bench/torch_reference.py times its peers: S instances with their own weights are captured back to
/// back, R times over, into one CUDA graph per token count (a Segment-granularity engine whose only layer is
/// a <see cref="RotationLayer"/>), the graph is replayed, and the GPU time between events around the replay
/// is divided by S x R. S is chosen so the instances' weights total at least twice the L2, so every call
/// streams its weights from HBM as it would in a model whose layers do not fit in L2; R makes a replay long
/// enough that the graph launch is a small part of it. Activations are shared by the instances: in a model
/// they are the output of the kernel just before.
/// </summary>
public static class RotatedTimer
{
    /// <summary>Fewest instances: even when one instance's weights exceed 2 x L2, its next call is 3 calls away.</summary>
    public const int MinInstances = 4;

    /// <summary>
    /// Most instances. A call whose weights need more than this to total 2 x L2 (under 2 x L2 / 64, about 2 MB on
    /// an H200: RMSNorm's) has too few weight bytes for L2 residency to matter; it gets <see cref="MinInstances"/>.
    /// </summary>
    public const int MaxInstances = 64;

    /// <summary>Device memory the instances of one shape may hold (all of it resident, not only the bytes a call reads).</summary>
    public const double InstanceBudgetBytes = 16.0 * (1L << 30);

    /// <summary>
    /// Shortest replay wanted, from the floor of one call at the smallest size: a graph launch costs a few
    /// microseconds of GPU time, so 200 us keeps it near 1% of the figure.
    /// </summary>
    public const double MinReplayMs = 0.2;

    public const int MaxRepeats = 16;

    public const string Method =
        "S instances with their own weights captured back to back, R times over (instance order 0..S-1 repeated), in one CUDA " +
        "graph per token count; median over replays of the GPU time between events around one replay (synchronized after each), " +
        "divided by S x R. S = max(ceil(2 x L2 / weight bytes per call), 4); when that exceeds 64 the weights are too small for " +
        "the L2 to matter and S = 4; S is also capped so the instances hold at most 16 GiB. R = clamp(ceil(0.2 ms / (S x floor " +
        "of one call at the smallest size)), 1, 16). Identical for the PyTorch peers (torch.cuda.graph over the same S weight " +
        "copies and R), whose weights are built once per shape and reused at every token count, as ours are.";

    /// <summary>
    /// The rotation for a call that reads <paramref name="rotatedBytes"/> bytes of its own weights (at the smallest
    /// size), holds <paramref name="footprintBytes"/> per instance, and whose floor at the smallest size is
    /// <paramref name="callFloorMs"/>. The reference backend has no L2 to defeat: two instances twice still prove the rotation.
    /// </summary>
    public static Rotation Instances(Device device, double rotatedBytes, double footprintBytes, double callFloorMs) =>
        device.Kind != BackendKind.Cuda ? new Rotation(2, 2) : Instances(device.Info.L2CacheBytes, rotatedBytes, footprintBytes, callFloorMs);

    /// <summary>The rule of <see cref="Method"/> for an L2 of <paramref name="l2Bytes"/>.</summary>
    public static Rotation Instances(long l2Bytes, double rotatedBytes, double footprintBytes, double callFloorMs)
    {
        long l2 = Math.Max(l2Bytes, 1L << 20);
        double need = Math.Ceiling(2.0 * l2 / Math.Max(rotatedBytes, 1));
        int s = need > MaxInstances ? MinInstances : (int)Math.Max(need, MinInstances);
        // Never fewer than two: the point of the method is that consecutive calls read different weights.
        int byBudget = (int)Math.Clamp(Math.Floor(InstanceBudgetBytes / Math.Max(footprintBytes, 1)), 2, MaxInstances);
        s = Math.Min(s, byBudget);
        double replayMs = s * (double.IsFinite(callFloorMs) && callFloorMs > 0 ? callFloorMs : 1e-6);
        int r = (int)Math.Clamp(Math.Ceiling(MinReplayMs / replayMs), 1, MaxRepeats);
        return new Rotation(s, r);
    }

    /// <summary>
    /// Builds <paramref name="rotation"/>.Instances layers with <paramref name="build"/> (instance index as argument) into
    /// one engine sized for <paramref name="sizes"/>, captures them (R times over) as one graph per size and returns,
    /// per size, the median GPU time of one call in ms. <paramref name="beforeSize"/> runs before a size is timed
    /// (to upload that size's device-side inputs, such as expert offsets); <paramref name="afterSize"/> runs after it,
    /// while the instances still hold that size's results (to read what the step did, such as the experts it hit).
    /// </summary>
    public static IReadOnlyDictionary<int, double> Time(BenchRun run, IReadOnlyList<int> sizes, Rotation rotation,
        Func<PrefillEngine, int, Layer> build, Action<PrefillEngine, int>? beforeSize = null, Action<PrefillEngine, int>? afterSize = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rotation.Instances, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rotation.Repeats, 1);
        var options = new BlockWiseGraphOptions { Enabled = true, Sizes = sizes.ToArray(), Granularity = Granularity.Segment };
        using var engine = new PrefillEngine(run.Device, options, sizes.Max());
        var instances = new List<Layer>(rotation.Instances);
        try
        {
            for (int i = 0; i < rotation.Instances; i++) instances.Add(build(engine, i));
        }
        catch
        {
            foreach (var l in instances) l.Dispose();
            throw;
        }
        engine.Add(new RotationLayer(engine.Context, "rotation", instances, rotation.Repeats));
        run.Device.DefaultStream.Synchronize();
        if (beforeSize is not null) beforeSize(engine, sizes.Max());
        engine.Capture();
        var result = new Dictionary<int, double>();
        foreach (int n in sizes)
        {
            beforeSize?.Invoke(engine, n);
            var t = Timing.Step(engine.Stream, () => engine.Prefill(n), run.Options.Warmup, run.Options.Repetitions);
            result[n] = t.GpuMs / rotation.Calls;
            afterSize?.Invoke(engine, n);
        }
        return result;
    }
}
