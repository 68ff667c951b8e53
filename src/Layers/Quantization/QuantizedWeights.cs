using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Quantization;

/// <summary>
/// Already-quantized weights with their scales ("offline" quantization in FastDeploy's terms), on the
/// host: logical q values [N, K] (one sbyte each) and scales [N, groups] in fp32. Validated on creation.
/// </summary>
public sealed class QuantizedWeights
{
    private QuantizedWeights(WeightOnlyScheme scheme, int n, int k, sbyte[] values, float[] scales)
    {
        Scheme = scheme;
        OutFeatures = n;
        InFeatures = k;
        Values = values;
        Scales = scales;
    }

    /// <summary>Format (int8 or int4) and group size.</summary>
    public WeightOnlyScheme Scheme { get; }
    /// <summary>N: rows of W.</summary>
    public int OutFeatures { get; }
    /// <summary>K: columns of W.</summary>
    public int InFeatures { get; }
    /// <summary>Logical q values [N, K], row-major, one per element.</summary>
    public sbyte[] Values { get; }
    /// <summary>Scales [N, groups] fp32, row-major.</summary>
    public float[] Scales { get; }

    /// <summary>Logical values, one per element: int8 in [-127, 127], int4 in [-8, 7].</summary>
    public static QuantizedWeights FromValues(WeightOnlyScheme scheme, int outFeatures, int inFeatures,
        ReadOnlySpan<sbyte> values, ReadOnlySpan<float> scales)
    {
        scheme.Validate(outFeatures, inFeatures, "offline weights");
        long count = (long)outFeatures * inFeatures;
        if (values.Length != count)
            throw new ArgumentException($"offline weights: {values.Length} values for [{outFeatures}, {inFeatures}] ({count})", nameof(values));
        int groups = scheme.Groups(inFeatures);
        if (scales.Length != (long)outFeatures * groups)
            throw new ArgumentException($"offline weights: {scales.Length} scales, expected [{outFeatures}, {groups}] = {outFeatures * groups} for {scheme.Label}", nameof(scales));
        for (int i = 0; i < values.Length; i++)
            if (values[i] < scheme.QMin || values[i] > scheme.QMax)
                throw new ArgumentOutOfRangeException(nameof(values), values[i],
                    $"offline weights: value at [{i / inFeatures}, {i % inFeatures}] outside [{scheme.QMin}, {scheme.QMax}] of {scheme.Label}");
        for (int i = 0; i < scales.Length; i++)
            if (!float.IsFinite(scales[i]) || scales[i] < 0f)
                throw new ArgumentOutOfRangeException(nameof(scales), scales[i], $"offline weights: scale {i} must be finite and >= 0");
        return new QuantizedWeights(scheme, outFeatures, inFeatures, values.ToArray(), scales.ToArray());
    }

    /// <summary>int4 packed two per byte along K, low nibble first, two's complement: [N, K / 2] bytes.</summary>
    public static QuantizedWeights FromPackedInt4(GroupSize groupSize, int outFeatures, int inFeatures,
        ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales)
    {
        if ((inFeatures & 1) != 0)
            throw new ArgumentException($"offline int4 weights pack two values per byte along K; K={inFeatures} is odd", nameof(inFeatures));
        if (packed.Length != (long)outFeatures * inFeatures / 2)
            throw new ArgumentException($"offline int4 weights: {packed.Length} bytes for [{outFeatures}, {inFeatures}] (expected {(long)outFeatures * inFeatures / 2})", nameof(packed));
        var values = new sbyte[(long)outFeatures * inFeatures];
        WeightOnlyPacking.UnpackInt4Bytes(packed, values);
        return FromValues(new WeightOnlyScheme(WeightOnlyFormat.Int4, groupSize), outFeatures, inFeatures, values, scales);
    }

    /// <summary>Quantizes host weights with the reference quantizer (the same arithmetic as the device's).</summary>
    public static QuantizedWeights Quantize(WeightOnlyScheme scheme, int outFeatures, int inFeatures, ReadOnlySpan<float> weights)
    {
        scheme.Validate(outFeatures, inFeatures, "quantize");
        var q = new sbyte[(long)outFeatures * inFeatures];
        var s = new float[(long)outFeatures * scheme.Groups(inFeatures)];
        WeightOnlyPacking.Quantize(weights, outFeatures, inFeatures, scheme, q, s);
        return new QuantizedWeights(scheme, outFeatures, inFeatures, q, s);
    }

    /// <summary>q · scale as float [N, K].</summary>
    /// <remarks>Blocks of rows in parallel; each element is the same single fp32 product.</remarks>
    public float[] Dequantize()
    {
        int n = OutFeatures, k = InFeatures, groups = Scheme.Groups(k), group = k / groups;
        var w = new float[Values.Length];
        void Rows(int first, int end)
        {
            for (int r = first; r < end; r++)
                for (int g = 0; g < groups; g++)
                {
                    float scale = Scales[r * groups + g];
                    int at = r * k + g * group;
                    for (int i = at; i < at + group; i++) w[i] = Values[i] * scale;
                }
        }
        int per = Math.Max(1, (1 << 20) / Math.Max(1, k));
        int tasks = (n + per - 1) / per;
        if (tasks <= 1) Rows(0, n);
        else Parallel.For(0, tasks, t => Rows(t * per, Math.Min(n, (t + 1) * per)));
        return w;
    }
}
