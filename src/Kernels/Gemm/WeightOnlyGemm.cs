using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Gemm;

/// <summary>
/// Weight-only GEMM: C[rows, N] = A[rows, K] · (q · scale)ᵀ (+ bias[N]), bf16/fp16 activations, int8 or
/// int4 weights dequantized in registers, fp32 accumulation. Rows at or past the device token count
/// are skipped (neither read nor written), except on the CUDA many-row path (more than
/// WeightOnlyGemmCuda.DenseMinRows host rows), which expands the weights and runs cuBLASLt over every
/// padded row as the bf16 Linear does. A <see cref="WeightOnlyPlan"/> made at construction holds the
/// variant choice and any workspace, so <see cref="MatMul"/> never allocates (capturable).
/// </summary>
public abstract class WeightOnlyGemm
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static WeightOnlyGemm Create(Device device) =>
        KernelBackend.Create<WeightOnlyGemm>(device, cuda => new WeightOnlyGemmCuda(cuda), () => new WeightOnlyGemmReference());

    /// <summary>The most host rows the CUDA launcher runs on the weight-only kernels; above, it expands the weights for cuBLASLt.</summary>
    public const int GemvMaxRows = WeightOnlyGemmCuda.DenseMinRows;

    /// <summary>Whether a CUDA call with <paramref name="rows"/> host rows rounds the weights to the activation type (the many-row path).</summary>
    public static bool ExpandsWeights(int rows) => rows > GemvMaxRows;

    /// <summary>
    /// The CUDA kernel a call with <paramref name="rows"/> host rows runs under a plan for <paramref name="maxRows"/>
    /// on <paramref name="target"/>: wo_gemv&lt;T, int4, group, token tiles, channel tiles per block&gt; for each of its
    /// three row ranges, wo_gemm_small (split K) where wo_gemv cannot stage the activations, or the weight expansion
    /// plus cuBLASLt above <see cref="GemvMaxRows"/> rows; T is the activation type.
    /// </summary>
    public static string Variant(WeightOnlyScheme scheme, int n, int k, int rows, int maxRows, LaunchTarget target)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, rows);
        return WeightOnlyGemmCuda.KernelFor(LaunchTarget.TypeParameter, scheme, n, k, rows, maxRows, target);
    }

    /// <summary>The schemes the engine's weight-only modes build: wint8 per channel, wint4 per channel and in groups of 64 and 128.</summary>
    public static IReadOnlyList<WeightOnlyScheme> Schemes { get; } = new[]
    {
        WeightOnlyScheme.Int8PerChannel, WeightOnlyScheme.Int4PerChannel, WeightOnlyScheme.Int4Group(64), WeightOnlyScheme.Int4Group(128),
    };

    /// <summary>
    /// Every name <see cref="Variant"/> can return on <paramref name="target"/> for <see cref="Schemes"/>: one row count
    /// per row range, N from one 16-channel tile to 16,384 channels tiles and K from 128 to 65,536 on geometric grids
    /// (the choice of channel tiles per block moves only where the blocks outgrow the SMs or the staged activations
    /// outgrow shared memory, both monotone in N and K; at K = 65,536 no row range can stage its activations).
    /// </summary>
    public static IReadOnlyList<string> Variants(LaunchTarget target)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var scheme in Schemes)
            for (int tiles = 1; tiles <= 1024; tiles = Math.Max(tiles + 1, tiles * 21 / 20))
                for (int k = 128; k <= 65536; k = Math.Max(k + 128, k * 21 / 20 / 128 * 128))
                    foreach (int rows in new[] { 1, 2, 5, 8, 12, 16, GemvMaxRows + 1 })
                        names.Add(Variant(scheme, tiles * WeightOnlyPacking.TileN, k, rows, rows, target));
        return names.ToArray();
    }

    /// <summary>Plans products with <paramref name="weights"/> for up to <paramref name="maxRows"/> rows. Allocates.</summary>
    public WeightOnlyPlan Plan(WeightOnlyMatrix weights, DType activation, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (!activation.IsHalfPrecisionFloat())
            throw new ArgumentException($"activation type must be BF16 or F16, got {activation}", nameof(activation));
        if (maxRows < 1) throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, "must be >= 1");
        return PlanCore(weights, activation, maxRows);
    }

    /// <summary>The backend's kernel behind <see cref="Plan"/>, called once the arguments are checked.</summary>
    protected abstract WeightOnlyPlan PlanCore(WeightOnlyMatrix weights, DType activation, int maxRows);

    /// <summary>C [rows, N] = A [rows, K] · (q · scale)ᵀ (+ <paramref name="bias"/> [N]) with the weights and workspace of <paramref name="plan"/>, for rows [0, <paramref name="rows"/>) below <paramref name="tokenCount"/>; allocation-free and capturable.</summary>
    public void MatMul(ComputeStream stream, Tensor a, WeightOnlyPlan plan, Tensor c, int rows, DevicePtr tokenCount, Tensor? bias = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(plan);
        var w = plan.Weights;
        a.RequireRank(nameof(a), 2).Require(nameof(a), plan.Activation).RequireDevice(nameof(a), stream.Device);
        if (a.Dim(1) != w.K) throw new ArgumentException($"{nameof(a)} must have K={w.K} columns, got {a}", nameof(a));
        c.RequireRank(nameof(c), 2).Require(nameof(c), plan.Activation).RequireDevice(nameof(c), stream.Device);
        if (c.Dim(1) != w.N) throw new ArgumentException($"{nameof(c)} must have N={w.N} columns, got {c}", nameof(c));
        if (rows < 0 || rows > a.Rows || rows > c.Rows || rows > plan.MaxRows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({a.Rows}, {c.Rows}, plan max {plan.MaxRows})]");
        if (bias is { } b) b.Require(nameof(bias), plan.Activation, w.N).RequireDevice(nameof(bias), stream.Device);
        if (rows == 0) return;
        MatMulCore(stream, a, plan, c, rows, tokenCount, bias);
    }

    /// <summary>The backend's kernel behind <see cref="MatMul"/>, called once the arguments are checked.</summary>
    protected abstract void MatMulCore(ComputeStream stream, Tensor a, WeightOnlyPlan plan, Tensor c, int rows, DevicePtr tokenCount, Tensor? bias);
}

/// <summary>Launch decisions and workspace for one weight matrix; disposing frees the workspace.</summary>
public class WeightOnlyPlan : IDisposable
{
    internal WeightOnlyPlan(WeightOnlyMatrix weights, DType activation, int maxRows)
    {
        Weights = weights;
        Activation = activation;
        MaxRows = maxRows;
    }

    /// <summary>The weights the plan multiplies by (not owned by the plan).</summary>
    public WeightOnlyMatrix Weights { get; }
    /// <summary>The activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <summary>The most rows a product with this plan may have.</summary>
    public int MaxRows { get; }

    /// <summary>Split-K factor of the few-token variant (1 on the reference backend).</summary>
    public int Splits { get; internal init; } = 1;
    /// <summary>K chunks each split handles.</summary>
    public int ChunksPerSplit { get; internal init; }
    /// <summary>Bytes of device workspace the plan holds (split-K partials and counters, or expanded weights for the many-row path); 0 when none.</summary>
    public long WorkspaceBytes { get; internal init; }

    /// <summary>Frees the workspace.</summary>
    public virtual void Dispose() { }
}
