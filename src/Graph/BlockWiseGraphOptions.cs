namespace GraphEngine.Graph;

/// <summary>
/// The engine's graph settings, section <c>GraphEngine:BlockWiseCudaGraph</c> of the configuration
/// (see <see cref="EngineConfiguration"/>). Build by hand in code, or bind with
/// <see cref="EngineConfiguration.BindOptions"/> for strict parsing with errors naming the source.
/// </summary>
public sealed class BlockWiseGraphOptions
{
    /// <summary>FastDeploy's default list of padded token counts.</summary>
    public static readonly IReadOnlyList<int> DefaultSizes = Array.AsReadOnly(new[] { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048 });

    /// <summary>When false every layer runs eagerly (reason: graphs disabled).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Padded token counts to capture; the engine sorts them and drops duplicates.</summary>
    public IReadOnlyList<int> Sizes
    {
        get => _sizes;
        init => _sizes = value ?? throw new ArgumentNullException(nameof(Sizes), "Sizes must not be null; use an empty list with Enabled = false");
    }
    private readonly IReadOnlyList<int> _sizes = DefaultSizes;

    /// <summary>Log every prefill step's path per layer (FD_BLOCK_WISE_DEBUG).</summary>
    public bool Debug { get; init; }

    /// <summary>Layer-name patterns that stay eager; '*' matches any run of characters, case-insensitive.</summary>
    public IReadOnlyList<string> Exclude
    {
        get => _exclude;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(Exclude));
            for (int i = 0; i < value.Count; i++)
                if (string.IsNullOrWhiteSpace(value[i]))
                    throw new ArgumentException($"Exclude[{i}] is {(value[i] is null ? "null" : "empty")}: every pattern must name layers ('*' matches any run)", nameof(Exclude));
            _exclude = value.ToArray();
        }
    }
    private readonly IReadOnlyList<string> _exclude = Array.Empty<string>();

    /// <summary>
    /// What one graph covers: a run of consecutive capturable layers between split points (the default: it measured
    /// faster than per-layer graphs at every token count on the H200, docs/results/76198e8) or one layer (Layer,
    /// FastDeploy's block-wise graphs, for loops that call Forward per layer).
    /// </summary>
    public Granularity Granularity
    {
        get => _granularity;
        init => _granularity = Enum.IsDefined(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Granularity), value, $"Granularity {(int)value} is neither Layer nor Segment");
    }
    private readonly Granularity _granularity = Granularity.Segment;

    /// <summary>Largest accepted <see cref="MaxSegmentLayers"/>.</summary>
    public const int MaxSegmentLayersLimit = 1 << 16;

    /// <summary>
    /// Segment granularity: the most layers one graph holds; a longer run of capturable layers is cut into
    /// consecutive graphs of this many layers. 0 = no limit. The GPU starts a graph only once the driver has
    /// submitted it, and submitting costs host time per node, so one graph of a whole 28-layer stack keeps
    /// the GPU idle for hundreds of microseconds at the start of every step; shorter graphs let the GPU run
    /// one while the host submits the next.
    /// </summary>
    public int MaxSegmentLayers
    {
        get => _maxSegmentLayers;
        init => _maxSegmentLayers = value is >= 0 and <= MaxSegmentLayersLimit
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxSegmentLayers), value, $"MaxSegmentLayers must be in [0, {MaxSegmentLayersLimit}] (0 = no limit)");
    }
    private readonly int _maxSegmentLayers;

    /// <summary>The first pattern of <see cref="Exclude"/> that matches <paramref name="layerName"/>, or null.</summary>
    public string? ExcludedBy(string layerName)
    {
        foreach (var p in Exclude)
            if (Wildcard.Matches(p, layerName)) return p;
        return null;
    }

    /// <summary>Every setting on one line, as the engine logs it.</summary>
    public override string ToString() =>
        $"Enabled={Enabled}, Sizes=[{string.Join(",", Sizes)}], Debug={Debug}, Exclude=[{string.Join(",", Exclude)}], Granularity={Granularity}, MaxSegmentLayers={MaxSegmentLayers}";
}
