namespace GraphEngine.Graph;

/// <summary>Why a layer (or one step of it) ran eagerly instead of replaying a graph.</summary>
public enum FallbackKind
{
    /// <summary>No fallback: the layer replays graphs.</summary>
    None,
    /// <summary>Graphs are turned off (Enabled = false, FD_USE_BLOCK_WISE_CUDA_GRAPH=0).</summary>
    GraphsDisabled,
    /// <summary>The step's token count is above the largest captured size (per step, not per layer).</summary>
    AboveLargestSize,
    /// <summary>An Exclude pattern matches the layer's name.</summary>
    Excluded,
    /// <summary>The layer declares itself not capturable (its quant mode, e.g. wi4a16).</summary>
    NotCapturable,
    /// <summary>Capturing the layer threw; the capture was aborted and the error kept.</summary>
    CaptureFailed,
    /// <summary>Capture() has not run since the layer was added (or since the last Recapture failed part-way).</summary>
    NotCaptured,
    /// <summary>Segment granularity: Forward(layer, n) on a layer that shares its segment's graph with others runs eagerly.</summary>
    SegmentMember,
    /// <summary>An application step registered with PrefillEngine.AddEager: never captured, it splits the segments around it.</summary>
    SplitPoint,
}

/// <summary>A fallback and its human text (the pattern, the layer's own reason, the error message).</summary>
public readonly record struct FallbackReason(FallbackKind Kind, string Text)
{
    /// <summary>Graphs are turned off by configuration.</summary>
    public static FallbackReason Disabled() => new(FallbackKind.GraphsDisabled, "graphs disabled by configuration");
    /// <summary>A step of <paramref name="n"/> tokens is above the <paramref name="largest"/> captured size.</summary>
    public static FallbackReason AboveLargest(int n, int largest) =>
        new(FallbackKind.AboveLargestSize, $"n={n} is above the largest captured size {largest}");
    /// <summary>The layer's name matches the Exclude <paramref name="pattern"/>.</summary>
    public static FallbackReason ExcludedBy(string pattern) => new(FallbackKind.Excluded, $"excluded by config pattern '{pattern}'");
    /// <summary>The layer declares itself not capturable, for <paramref name="reason"/> (null: no reason given).</summary>
    public static FallbackReason NotCapturable(string? reason) =>
        new(FallbackKind.NotCapturable, $"quant mode not capturable: {reason ?? "the layer declares itself not capturable"}");
    /// <summary>Capturing the layer threw <paramref name="error"/> (the exception's message).</summary>
    public static FallbackReason CaptureFailed(string error) => new(FallbackKind.CaptureFailed, $"capture failed: {error}");
    /// <summary>The engine has not captured the layer yet.</summary>
    public static FallbackReason NotCaptured() => new(FallbackKind.NotCaptured, "not captured yet: call Capture()");
    /// <summary>The application's own eager step, a split point between segments.</summary>
    public static FallbackReason SplitPoint() => new(FallbackKind.SplitPoint, "split point: the application's eager step (AddEager)");
    /// <summary>A single-layer Forward on a layer whose graph is shared with the rest of <paramref name="segment"/>.</summary>
    public static FallbackReason SegmentMember(string segment) =>
        new(FallbackKind.SegmentMember, $"segment granularity: Forward(layer) cannot replay part of segment {segment}");

    /// <see cref="Text"/>.
    public override string ToString() => Text;
}
