namespace GraphEngine.Kernels.Quant;

/// <summary>Storage of a weight-only quantized matrix: int8 (wint8) or int4 (wint4).</summary>
public enum WeightOnlyFormat { Int8, Int4 }

/// <summary>
/// A symmetric weight-only quantization: format and scale granularity. GroupSize 0 = one scale per
/// output channel; otherwise one scale per output channel and per group of GroupSize along K.
/// int8: scale = max|w| / 127, q in [-127, 127]. int4: scale = max|w| / 7, q clamped to [-7, 7]
/// (the symmetric range of FastDeploy's wint4; offline int4 weights may also use -8).
/// </summary>
public readonly record struct WeightOnlyScheme(WeightOnlyFormat Format, int GroupSize = 0)
{
    public static WeightOnlyScheme Int8PerChannel => new(WeightOnlyFormat.Int8, 0);
    public static WeightOnlyScheme Int4PerChannel => new(WeightOnlyFormat.Int4, 0);
    public static WeightOnlyScheme Int4Group(int groupSize) => new(WeightOnlyFormat.Int4, groupSize);

    /// <summary>Largest quantized magnitude the quantizer produces.</summary>
    public int QMax => Format == WeightOnlyFormat.Int8 ? 127 : 7;

    /// <summary>Smallest value offline weights may hold.</summary>
    public int QMin => Format == WeightOnlyFormat.Int8 ? -127 : -8;

    public bool PerChannel => GroupSize == 0;

    public int Groups(int k) => PerChannel ? 1 : k / GroupSize;

    /// <summary>Listing label: "wint8", "wint4", "wint4/g128".</summary>
    public string Label => (Format == WeightOnlyFormat.Int8 ? "wint8" : "wint4") + (PerChannel ? "" : $"/g{GroupSize}");

    /// <summary>Rejects what the format forbids, naming the value and <paramref name="source"/>.</summary>
    public void Validate(int n, int k, string source)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, $"{source}: out features must be >= 1");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, $"{source}: in features must be >= 1");
        if (Format == WeightOnlyFormat.Int8 && GroupSize != 0)
            throw new ArgumentException($"{source}: wint8 uses one scale per output channel; group size {GroupSize} is not supported (use 0)");
        if (Format == WeightOnlyFormat.Int4 && GroupSize is not (0 or 64 or 128))
            throw new ArgumentException($"{source}: wint4 group size must be 0 (per channel), 64 or 128, got {GroupSize}");
        if (GroupSize != 0 && k % GroupSize != 0)
            throw new ArgumentException($"{source}: in features K={k} is not a multiple of the group size {GroupSize}");
    }
}
