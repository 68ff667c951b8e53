using GraphEngine.Kernels;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// The quant-mode-specific half of a Linear layer: owns the weights in the layout its kernel reads
/// fastest and computes output[rows, N] = input[rows, K] · Wᵀ (+ bias). One implementation per mode
/// family (cuBLASLt bf16/fp16, weight-only int8/int4, block-wise fp8); the Linear layer picks one.
/// </summary>
public interface ILinearMethod : IDisposable
{
    /// <summary>The quant mode of the weights.</summary>
    QuantMode Mode { get; }

    /// <summary>Listing label, for example "wint4/g128".</summary>
    string Label { get; }

    /// <summary>K: columns of the input.</summary>
    int InFeatures { get; }
    /// <summary>N: columns of the output (rows of W).</summary>
    int OutFeatures { get; }

    /// <summary>Bytes of weights and scales read per forward.</summary>
    long WeightBytes { get; }

    /// <summary>
    /// Enqueues the product for rows [0, paddedRows); rows at or past the device token count may be
    /// skipped. Must not allocate, synchronize or read back (capturable).
    /// </summary>
    void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount);

    /// <summary>The weights as the kernel sees them, dequantized to float [N, K] on the host (for checks).</summary>
    float[] DequantizedWeights();
}

/// <summary>
/// The expert weights of one MoE group GEMM ([E, N, K]) in a quant mode, and the kernel that runs it.
/// </summary>
public interface IMoeMethod : IDisposable
{
    /// <summary>The quant mode of the expert weights.</summary>
    QuantMode Mode { get; }
    /// <summary>Listing label, for example "wint4/g128".</summary>
    string Label { get; }
    /// <summary>E: experts.</summary>
    int Experts { get; }
    /// <summary>N: output columns of each expert's GEMM.</summary>
    int N { get; }
    /// <summary>K: input columns of each expert's GEMM.</summary>
    int K { get; }

    /// <summary>Bytes of weights and scales of one expert.</summary>
    long WeightBytesPerExpert { get; }

    /// <summary>Whether Forward is capturable; wi4a16 plans tiles on the host and says so here.</summary>
    Capturability Capturability { get; }

    /// <summary>Enqueues the group GEMM <paramref name="problem"/> (rows grouped by expert) on <paramref name="stream"/>; capturable when <see cref="Capturability"/> says so.</summary>
    void Forward(ComputeStream stream, GraphEngine.Kernels.Moe.GroupGemmProblem problem);

    /// <summary>Expert e's weights dequantized to float [N, K] on the host (for checks).</summary>
    float[] DequantizedWeights(int expert);

    /// <summary>
    /// <see cref="DequantizedWeights(int)"/> into <paramref name="destination"/> [N, K]: checks of many large experts
    /// reuse one buffer instead of allocating one per expert.
    /// </summary>
    void DequantizedWeights(int expert, Span<float> destination) => DequantizedWeights(expert).CopyTo(destination);
}
