using System.Diagnostics;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Models;

namespace GraphEngine.Hosting.Reliability;

/// <summary>Memory of host and device at one point of a soak.</summary>
public readonly record struct SoakMemory(HostMemoryLevel Host, DeviceMemoryLevel Device)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Host}; {Device}";
}

/// <summary>One growth figure of a soak, from after the warm-up to the end, against its threshold, in <paramref name="Unit"/>.</summary>
public sealed record SoakGrowth(string What, long Bytes, long Threshold, string Unit = "bytes")
{
    /// <summary>True when the growth is within the threshold.</summary>
    public bool Passed => Bytes <= Threshold;

    /// <inheritdoc/>
    public override string ToString() => $"{What}: {Bytes:+#;-#;0} {Unit} (threshold {Threshold})";
}

/// <summary>What a soak measured and whether it held.</summary>
public sealed record SoakReport(
    long Replays, long WarmupReplays, double Seconds, int CheckTokens,
    SoakMemory Start, SoakMemory AfterWarmup, SoakMemory End,
    IReadOnlyList<SoakGrowth> Growth, string? Mismatch, long GraphReplays, IReadOnlyDictionary<int, long> StepsPerTokens)
{
    /// <summary>Mean wall time of one replay, in microseconds (the loop synchronizes every <see cref="SoakRun.Chunk"/> replays).</summary>
    public double MicrosecondsPerReplay => Replays == 0 ? 0 : Seconds * 1e6 / Replays;
    /// <summary>No growth above its threshold and the last step equal to the first at the same n.</summary>
    public bool Passed => Mismatch is null && Growth.All(g => g.Passed);
}

/// <summary>
/// The soak: a captured model's steps replayed many times at mixed token counts, with host and device memory measured
/// at the start, after the warm-up and at the end, and the last step's output checked bit for bit against the first
/// step at the same n (both from the same seeded inputs). Growth is judged from after the warm-up to the end, so what a
/// first run allocates for good (JIT, cuBLASLt plans, lazily made workspaces) is not counted.
/// </summary>
public static class SoakRun
{
    /// <summary>Replays between two stream synchronizations (and progress checks).</summary>
    public const int Chunk = 1024;

    /// <summary>
    /// Managed heap growth allowed after a full collection: the runtime keeps a little of its own after warm-up (tiered
    /// JIT's call-counting and patching stubs, thread-pool and timer state); a leak of one object per replay over a
    /// million replays is tens of megabytes.
    /// </summary>
    public const long GcHeapThreshold = 1L << 20;

    /// <summary>
    /// Resident-set growth allowed: it moves by whole pages with native memory outside the GC (tier-1 code replacing
    /// tier-0 code, the C library's and the driver's allocator arenas, the GC committing or decommitting segments), a
    /// few MiB without any leak. 32 MiB is 32 bytes per replay over a million replays.
    /// </summary>
    public const long RssThreshold = 32L << 20;

    /// <summary>Replays that warm up before the after-warm-up snapshot: 5%, at least one, at most 50,000.</summary>
    public static long WarmupFor(long replays) => Math.Clamp(replays / 20, 1, 50_000);

    /// <summary>The token counts of a soak: half the time a captured size, else any count in [1, MaxTokens]; a pure function of the seed.</summary>
    public static IEnumerable<int> TokenCounts(IReadOnlyList<int> sizes, int maxTokens, ulong seed)
    {
        ulong state = seed;
        while (true)
        {
            ulong r = SplitMix64(ref state);
            yield return sizes.Count > 0 && (r & 1) == 0
                ? sizes[(int)((r >> 1) % (ulong)sizes.Count)]
                : 1 + (int)((r >> 1) % (ulong)maxTokens);
        }
    }

    // SplitMix64 (Steele, Lea, Flood 2014): a full-period 64-bit generator whose output does not depend on the runtime's Random.
    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Runs <paramref name="replays"/> steps of <paramref name="model"/> (its engine captured) at token counts drawn from
    /// <paramref name="seed"/>; <paramref name="progress"/> gets (done, elapsed) at most once per <paramref name="progressEvery"/>.
    /// </summary>
    public static SoakReport Run(BuiltModel model, long replays, ulong seed = 1, Action<long, TimeSpan>? progress = null, TimeSpan? progressEvery = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (replays < 1) throw new ArgumentOutOfRangeException(nameof(replays), replays, "a soak needs at least one replay");
        var engine = model.Engine;
        var device = engine.Device;
        var stream = engine.Stream;
        var every = progressEvery ?? TimeSpan.FromSeconds(10);
        using var counts = TokenCounts(engine.Sizes, engine.MaxTokens, seed).GetEnumerator();
        counts.MoveNext();
        int checkN = counts.Current;

        SoakMemory Snapshot()
        {
            stream.Synchronize();
            return new SoakMemory(HostMemoryLevel.Now(), DeviceMemoryLevel.Of(device, engine.Pool));
        }

        float[] CheckStep()
        {
            model.RandomizeInputs((uint)seed);
            engine.Prefill(checkN);
            stream.Synchronize();
            return model.Output.SliceRows(0, checkN).DownloadFloats();
        }

        var first = CheckStep();
        var start = Snapshot();
        long replaysBefore = engine.Listing().Replays;
        var perTokens = new Dictionary<int, long>();
        long warmup = WarmupFor(replays), done = 0;
        SoakMemory? afterWarmup = null;
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        // The counts are drawn ahead of each chunk so the timed loop is the replays and nothing else.
        var chunk = new int[Chunk];
        while (done < replays)
        {
            long target = done < warmup ? warmup : replays;
            int m = (int)Math.Min(Chunk, target - done);
            for (int i = 0; i < m; i++)
            {
                counts.MoveNext();
                chunk[i] = counts.Current;
            }
            for (int i = 0; i < m; i++) engine.Prefill(chunk[i]);
            stream.Synchronize();
            for (int i = 0; i < m; i++) perTokens[chunk[i]] = perTokens.GetValueOrDefault(chunk[i]) + 1;
            done += m;
            if (done == warmup && afterWarmup is null) afterWarmup = Snapshot();
            if (progress is not null && clock.Elapsed - lastReport >= every)
            {
                lastReport = clock.Elapsed;
                progress(done, lastReport);
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        var end = Snapshot();
        long graphReplays = engine.Listing().Replays - replaysBefore;
        var last = CheckStep();
        string? mismatch = Compare(first, last, checkN);
        var warm = afterWarmup ?? start;
        var growth = new List<SoakGrowth>
        {
            new("GC heap (after a full collection)", end.Host.GcHeapBytes - warm.Host.GcHeapBytes, GcHeapThreshold),
            new("process RSS", end.Host.RssBytes - warm.Host.RssBytes, RssThreshold),
            // Replay allocates nothing on the device: our allocator and the engine's pool must not move at all.
            new("device allocated (our allocator)", end.Device.AllocatedBytes - warm.Device.AllocatedBytes, 0),
            new("device live allocations", end.Device.LiveAllocations - warm.Device.LiveAllocations, 0, "allocations"),
            new("device pool in use", end.Device.PoolInUseBytes - warm.Device.PoolInUseBytes, 0),
            new("device pool reserved", end.Device.PoolReservedBytes - warm.Device.PoolReservedBytes, 0),
        };
        if (end.Device.DriverFreeBytes is { } freeEnd && warm.Device.DriverFreeBytes is { } freeWarm)
            growth.Add(new("device memory in use (driver, cuMemGetInfo)", freeWarm - freeEnd, DeviceMemoryLevel.DriverGranularity));
        return new SoakReport(replays, Math.Min(warmup, replays), seconds, checkN, start, warm, end, growth, mismatch, graphReplays, perTokens);
    }

    private static string? Compare(float[] first, float[] last, int n)
    {
        for (int i = 0; i < first.Length; i++)
            if (BitConverter.SingleToInt32Bits(first[i]) != BitConverter.SingleToInt32Bits(last[i]))
                return $"the last step at n={n} differs from the first at element {i} (row {i / Math.Max(1, first.Length / n)}): {last[i]} vs {first[i]}";
        return null;
    }
}
