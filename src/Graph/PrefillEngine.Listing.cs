namespace GraphEngine.Graph;

// The listing: every unit, its path, sizes, fallback reason and figures.
public sealed partial class PrefillEngine
{
    /// <summary>The engine's state as data (see <see cref="EngineListing.ToJson"/>).</summary>
    public EngineListing Listing()
    {
        ThrowIfDisposed();
        var layers = new List<LayerListing>();
        var segments = new List<SegmentListing>();
        foreach (var u in _plan.Where(u => u.Graphs is not null && Options.Granularity == Granularity.Segment))
            segments.Add(new SegmentListing(u.Name, _slots[u.First].Layer.Name, _slots[u.Last].Layer.Name, u.Last - u.First + 1,
                _sizes, u.CaptureMs.Sum(), u.InstantiateMs.Sum(), u.Bytes.Sum(), u.Replays));

        foreach (var s in _slots)
        {
            var u = s.Unit!;
            bool graph = u.Graphs is not null;
            bool first = u.First == s.Index;
            FallbackReason? reason = graph ? null : s.Static ?? FallbackReason.NotCaptured();
            layers.Add(new LayerListing(
                s.Layer.Name,
                s.Layer.Kind.ToString(),
                s.Layer.QuantLabel,
                graph ? "graph" : "eager",
                graph ? _sizes : Array.Empty<int>(),
                reason?.Text,
                graph && first ? u.CaptureMs.Sum() : 0,
                graph && first ? u.InstantiateMs.Sum() : 0,
                graph && first ? u.Bytes.Sum() : 0,
                graph ? u.Replays : 0,
                s.EagerRuns,
                graph && Options.Granularity == Granularity.Segment ? u.Name : null,
                reason?.Kind ?? FallbackKind.None,
                s.EagerAboveLargest,
                graph && first ? u.Graphs!.Sum(g => g?.NodeCount ?? 0) : 0));
        }

        return new EngineListing(
            layers,
            segments,
            Options.Granularity.ToString(),
            Options.Enabled,
            _sizes,
            MaxTokens,
            layers.Count(l => l.Path == "graph"),
            layers.Count(l => l.Path == "eager"),
            _plan.Sum(u => u.Graphs?.Count(g => g is not null) ?? 0),
            layers.Sum(l => l.CaptureMs),
            layers.Sum(l => l.InstantiateMs),
            layers.Sum(l => l.GraphBytes),
            ActivationBytes,
            _plan.Sum(u => u.Graphs is null ? 0 : u.Replays),
            layers.Sum(l => l.EagerRuns),
            _steps,
            _stepsAboveLargest);
    }
}
