namespace GraphEngine.Kernels.Quant;

/// <summary>Storage of a weight-only quantized matrix: int8 (wint8) or int4 (wint4).</summary>
public enum WeightOnlyFormat
{
    /// <summary>One int8 per weight.</summary>
    Int8,
    /// <summary>Two int4 per byte.</summary>
    Int4,
}

/// <summary>
/// A symmetric weight-only quantization: format and scale granularity. <see cref="GroupSize"/> per channel
/// (the default) = one scale per output channel; otherwise one scale per output channel and per group along K.
/// int8: scale = max|w| / 127, q in [-127, 127]. int4: scale = max|w| / 7, q clamped to [-7, 7]
/// (the symmetric range of FastDeploy's wint4; offline int4 weights may also use -8).
/// </summary>
public readonly record struct WeightOnlyScheme(WeightOnlyFormat Format, GroupSize GroupSize = default)
{
    /// <summary>wint8, one scale per output channel.</summary>
    public static WeightOnlyScheme Int8PerChannel => new(WeightOnlyFormat.Int8, GroupSize.PerChannel);
    /// <summary>wint4, one scale per output channel.</summary>
    public static WeightOnlyScheme Int4PerChannel => new(WeightOnlyFormat.Int4, GroupSize.PerChannel);
    /// <summary>wint4 with one scale per <paramref name="groupSize"/> elements along K.</summary>
    public static WeightOnlyScheme Int4Group(int groupSize) => new(WeightOnlyFormat.Int4, GroupSize.Of(groupSize));

    /// <summary>Largest quantized magnitude the quantizer produces.</summary>
    public int QMax => Format == WeightOnlyFormat.Int8 ? 127 : 7;

    /// <summary>Smallest value offline weights may hold.</summary>
    public int QMin => Format == WeightOnlyFormat.Int8 ? -127 : -8;

    /// <summary>True for one scale per output channel.</summary>
    public bool PerChannel => GroupSize.IsPerChannel;

    /// <summary>Scale groups along <paramref name="k"/>.</summary>
    public int Groups(int k) => GroupSize.Groups(k);

    /// <summary>Listing label: "wint8", "wint4", "wint4/g128".</summary>
    public string Label => (Format == WeightOnlyFormat.Int8 ? "wint8" : "wint4") + (PerChannel ? "" : $"/{GroupSize}");

    /// <summary>Rejects what the format forbids, naming the value and <paramref name="source"/>.</summary>
    public void Validate(int n, int k, string source)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, $"{source}: out features must be >= 1");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, $"{source}: in features must be >= 1");
        if (Format == WeightOnlyFormat.Int8 && !PerChannel)
            throw new ArgumentException($"{source}: wint8 uses one scale per output channel; group size {GroupSize.Size} is not supported (use per-channel)", "groupSize");
        if (Format == WeightOnlyFormat.Int4 && !PerChannel && GroupSize.Size is not (64 or 128))
            throw new ArgumentException($"{source}: wint4 group size must be per-channel, 64 or 128, got {GroupSize.Size}", "groupSize");
        if (!GroupSize.Divides(k))
            throw new ArgumentException($"{source}: in features K={k} is not a multiple of the group size {GroupSize.Size}", "groupSize");
    }
}
