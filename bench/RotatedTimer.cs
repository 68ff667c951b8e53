using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;

namespace GraphEngine.Bench;

/// <summary>
/// Times one kernel (or layer) the way FlashInfer's bench utilities and triton.testing.do_bench do, and the
/// way bench/torch_reference.py times its peers: S instances with their own weights are captured back to
/// back into one CUDA graph per token count (a Segment-granularity engine whose only segment is the S
/// instances), the graph is replayed, and the GPU time between events around the replay is divided by S.
/// S is chosen so the instances' bytes total at least twice the L2, so every call streams its weights from
/// HBM as it would in a model whose layers do not fit in L2, and no launch gap or blocker copy is timed.
/// Activations are shared by the instances: in a model they are the output of the kernel just before.
/// </summary>
public static class RotatedTimer
{
    public const string Method =
        "S instances with their own weights (S = max(ceil(2 x L2 / bytes per call), 16), at most 64) captured back to back in " +
        "one CUDA graph per token count; median over replays of the GPU time between events around the replay, divided by S. " +
        "Identical for the PyTorch peers (torch.cuda.graph over S weight copies).";

    /// <summary>How many instances rotate the weights past the L2 for a call that touches <paramref name="bytesPerCall"/> bytes.</summary>
    public static int Instances(Device device, double bytesPerCall)
    {
        if (device.Kind != BackendKind.Cuda) return 2; // the host has no L2 to defeat; two still prove the rotation
        long l2 = Math.Max(device.Info.L2CacheBytes, 1L << 20);
        double need = Math.Ceiling(2.0 * l2 / Math.Max(bytesPerCall, 1));
        return (int)Math.Clamp(need, 16, 64);
    }

    /// <summary>
    /// Builds <paramref name="instances"/> layers with <paramref name="build"/> (instance index as argument) into
    /// one engine sized for <paramref name="sizes"/>, captures them as one segment per size and returns, per
    /// size, the median GPU time of one call in ms. <paramref name="beforeSize"/> runs before a size is timed
    /// (to upload that size's device-side inputs, such as expert offsets).
    /// </summary>
    public static IReadOnlyDictionary<int, double> Time(BenchRun run, IReadOnlyList<int> sizes, int instances,
        Func<PrefillEngine, int, Layer> build, Action<PrefillEngine, int>? beforeSize = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(instances, 1);
        var options = new BlockWiseGraphOptions { Enabled = true, Sizes = sizes.ToArray(), Granularity = Granularity.Segment };
        using var engine = new PrefillEngine(run.Device, options, sizes.Max());
        for (int i = 0; i < instances; i++) engine.Add(build(engine, i));
        run.Device.DefaultStream.Synchronize();
        if (beforeSize is not null) beforeSize(engine, sizes.Max());
        engine.Capture();
        var result = new Dictionary<int, double>();
        foreach (int n in sizes)
        {
            beforeSize?.Invoke(engine, n);
            var t = Timing.Step(engine.Stream, () => engine.Prefill(n), run.Options.Warmup, run.Options.Repetitions);
            result[n] = t.GpuMs / instances;
        }
        return result;
    }
}
