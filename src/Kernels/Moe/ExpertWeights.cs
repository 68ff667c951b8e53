using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>How a group GEMM's expert weights [E, N, K] are stored.</summary>
public enum ExpertWeightFormat
{
    /// <summary>bf16/fp16 as the activations; no scales.</summary>
    Half,

    /// <summary>int8, one fp32 scale per output channel: w = q * scale[e, n].</summary>
    Int8PerChannel,

    /// <summary>signed int4 (-7..7, two's complement nibbles, low nibble = even k), w = q * scale[e, n].</summary>
    Int4PerChannel,

    /// <summary>signed int4, one fp32 scale per group of G along K: w = q * scale[e, n, k / G].</summary>
    Int4Group,

    /// <summary>wi4a16: unsigned int4 (0..15) with a zero point per group: w = (q - zero[e, n, k / G]) * scale[e, n, k / G].</summary>
    Int4ZeroPointGroup,
}

/// <summary>
/// Expert weights as a group-GEMM kernel reads them. <see cref="Weights"/> is [E, N, K] (Int4 packs two
/// per byte, low nibble first); <see cref="Scales"/> and <see cref="Zeros"/> are fp32 [E, N, groups] with
/// groups = 1 for per-channel formats and K / <see cref="GroupSize"/> for group formats. The format decides
/// whether weights are grouped; per-channel formats ignore <see cref="GroupSize"/> (pass GroupSize.PerChannel).
/// </summary>
public readonly record struct ExpertWeights(ExpertWeightFormat Format, Tensor Weights, Tensor Scales, Tensor Zeros, GroupSize GroupSize)
{
    /// <summary>E: experts.</summary>
    public int Experts => (int)Weights.Dim(0);
    /// <summary>N: output columns per expert.</summary>
    public int N => (int)Weights.Dim(1);
    /// <summary>K: input columns per expert.</summary>
    public int K => (int)Weights.Dim(2);

    /// <summary>True for the per-group formats (scales [E, N, K / G]).</summary>
    public bool IsGrouped => Format is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup;
    /// <summary>Scale groups along K: K / G for grouped formats, else 1.</summary>
    public int Groups => IsGrouped ? K / GroupSize.Size : 1;

    /// <summary>Storage type of <see cref="Weights"/> for a format and activation type.</summary>
    public static DType WeightType(ExpertWeightFormat format, DType activation) => format switch
    {
        ExpertWeightFormat.Half => activation,
        ExpertWeightFormat.Int8PerChannel => DType.I8,
        _ => DType.Int4,
    };

    /// <summary>Group sizes must be a multiple of the kernels' K tile, so a K tile never spans two groups.</summary>
    public const int GroupGranule = 64;

    /// <summary>Checks every tensor against the format; messages name the tensor and the value.</summary>
    public void Validate(DType activation, int experts, int n, int k)
    {
        Weights.RequireRank(nameof(Weights), 3);
        var wt = WeightType(Format, activation);
        Weights.Require(nameof(Weights), wt, experts, n, k);
        if (IsGrouped)
        {
            if (GroupSize.IsPerChannel || GroupSize.Size % GroupGranule != 0)
                throw new ArgumentOutOfRangeException(nameof(GroupSize), GroupSize, $"group size must be a positive multiple of {GroupGranule}");
            if (!GroupSize.Divides(k))
                throw new ArgumentException($"group size {GroupSize.Size} does not divide K = {k}", nameof(GroupSize));
        }
        if (Format != ExpertWeightFormat.Half)
            Scales.Require(nameof(Scales), DType.F32, experts, n, Groups);
        if (Format == ExpertWeightFormat.Int4ZeroPointGroup)
            Zeros.Require(nameof(Zeros), DType.F32, experts, n, Groups);
    }

    /// <summary>Bytes of weights, scales and zeros of one expert.</summary>
    public long BytesPerExpert(DType activation)
    {
        long w = WeightType(Format, activation).ByteCount((long)N * K);
        long s = Format == ExpertWeightFormat.Half ? 0 : 4L * N * Groups;
        long z = Format == ExpertWeightFormat.Int4ZeroPointGroup ? 4L * N * Groups : 0;
        return w + s + z;
    }
}
