using System.Text;
using GraphEngine.Layers;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Graph;

// Replay, the hot path: bucket lookup, the device token count, graphs or eager per unit, and the debug log.
public sealed partial class PrefillEngine
{
    /// <summary>
    /// Runs the whole stack for <paramref name="n"/> valid tokens: writes n to the device token count
    /// once, then per layer (or segment) replays the graph of the smallest captured size >= n, or runs
    /// the layer eagerly with paddedTokens = n. The caller reads rows [0, n) of the last output.
    /// Allocation-free when Debug is off.
    /// </summary>
    public void Prefill(int n)
    {
        ThrowIfDisposed();
        CheckTokens(n);
        if (n == 0) return;
        using var _ = Enter(nameof(Prefill));
        Stream.Fill32Async(Context.TokenCount, (uint)n, 1);
        _lastWrittenN = n;
        int b = _bucketOf[n];
        if (b < 0 && Options.Enabled) _stepsAboveLargest++;
        var plan = _plan;
        for (int i = 0; i < plan.Length; i++)
        {
            var u = plan[i];
            var g = b >= 0 && u.Graphs is { } graphs ? graphs[b] : null;
            if (g is not null)
            {
                g.Launch(Stream);
                u.Replays++;
            }
            else
            {
                for (int k = u.First; k <= u.Last; k++) RunEager(_slots[k], n, b);
            }
        }
        _steps++;
        if (_debug) LogStep(n, b, plan);
    }

    /// <summary>
    /// Runs one layer for <paramref name="n"/> tokens, for loops that interleave their own eager work
    /// (attention) between layers. The token count is written only when it differs from the last value
    /// this engine wrote. In Segment granularity a layer that shares its segment's graph with other
    /// layers runs eagerly (reason SegmentMember): replaying the segment would run its neighbours too.
    /// </summary>
    public void Forward(Layer layer, int n)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(layer);
        CheckTokens(n);
        if (n == 0) return;
        if (!_slotOf.TryGetValue(layer, out var slot))
            throw new ArgumentException($"layer '{layer.Name}' was not added to this engine", nameof(layer));
        using var _ = Enter(nameof(Forward));
        if (_lastWrittenN != n)
        {
            Stream.Fill32Async(Context.TokenCount, (uint)n, 1);
            _lastWrittenN = n;
        }
        int b = _bucketOf[n];
        var u = slot.Unit!;
        var g = b >= 0 && u.First == u.Last && u.Graphs is { } graphs ? graphs[b] : null;
        if (g is not null)
        {
            g.Launch(Stream);
            u.Replays++;
        }
        else
        {
            RunEager(slot, n, b);
        }
        if (_debug) LogForward(slot, n, b);
    }

    /// <summary>
    /// Writes <paramref name="n"/> to the device token count on <see cref="Stream"/>, for code that runs
    /// layers by hand (layer.Forward(engine.Stream, padded)). Use this rather than writing
    /// <see cref="LayerContext.TokenCount"/> directly: <see cref="Forward"/> skips the write when n equals
    /// the last value the engine wrote, so a write behind its back could leave a stale count.
    /// </summary>
    public void WriteTokenCount(int n)
    {
        ThrowIfDisposed();
        CheckTokens(n);
        using var _ = Enter(nameof(WriteTokenCount));
        Stream.Fill32Async(Context.TokenCount, (uint)n, 1);
        _lastWrittenN = n;
    }

    private void RunEager(Slot slot, int n, int bucket)
    {
        slot.Layer.Forward(Stream, n);
        slot.EagerRuns++;
        if (bucket < 0 && slot.Static is null) slot.EagerAboveLargest++;
    }

    private void CheckTokens(int n)
    {
        if (n < 0 || n > MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"token count n={n} must be in [0, MaxTokens={MaxTokens}]");
    }

    private static int[] BuildBuckets(int[] sizes, int maxTokens)
    {
        var table = new int[maxTokens + 1];
        int si = 0;
        for (int n = 0; n <= maxTokens; n++)
        {
            while (si < sizes.Length && sizes[si] < n) si++;
            table[n] = si < sizes.Length ? si : -1;
        }
        return table;
    }


    private void LogStep(int n, int b, Unit[] plan)
    {
        var sb = new StringBuilder();
        sb.Append("prefill n=").Append(n)
          .Append(!Options.Enabled ? " (graphs disabled)" : b >= 0 ? $" (padded {_sizes[b]})" : " (above the largest size)").Append(':');
        foreach (var u in plan)
        {
            bool graph = b >= 0 && u.Graphs?[b] is not null;
            for (int k = u.First; k <= u.Last; k++)
            {
                var s = _slots[k];
                sb.Append("\n  ").Append(s.Layer.Name).Append(": ");
                if (graph) sb.Append("graph@").Append(_sizes[b]).Append(u.First != u.Last ? $" in {u.Name}" : "");
                else sb.Append("eager@").Append(n).Append(" (").Append(EagerReason(s, n, b).Text).Append(')');
            }
        }
        _logger!.LogInformation("{Step}", sb.ToString());
    }

    private void LogForward(Slot s, int n, int b)
    {
        var u = s.Unit!;
        bool graph = b >= 0 && u.First == u.Last && u.Graphs?[b] is not null;
        string path = graph ? $"graph@{_sizes[b]}" : $"eager@{n} ({EagerReason(s, n, b, forward: true).Text})";
        _logger!.LogInformation("forward n={N}: {Layer}: {Path}", n, s.Layer.Name, path);
    }

    private FallbackReason EagerReason(Slot s, int n, int b, bool forward = false)
    {
        if (s.Static is { } r) return r;
        if (s.Unit?.Graphs is null) return FallbackReason.NotCaptured();
        if (b < 0) return FallbackReason.AboveLargest(n, _sizes[^1]);
        if (forward && s.Unit.First != s.Unit.Last) return FallbackReason.SegmentMember(s.Unit.Name);
        return new FallbackReason(FallbackKind.None, "graph");
    }
}
