namespace GraphEngine.Kernels.Moe;

/// <summary>Which permuted rows hold real data this step, for the kernels that skip the rest.</summary>
public enum RowValidity
{
    /// <summary>Rows below the device token count (a dense path such as the shared experts).</summary>
    Dense = 0,

    /// <summary>Rows below offsets[E] (prefix-sum layout); the info tensor is offsets [E + 1].</summary>
    PrefixSum = 1,

    /// <summary>Row r is valid when r % P &lt; counts[r / P] (padded layout); the info tensor is counts [E].</summary>
    Padded = 2,
}

/// <summary>
/// Data movement around the expert GEMMs: <see cref="Scatter"/> tokens into their routed rows,
/// <see cref="SwiGlu"/> between the GEMMs, <see cref="Combine"/> back to token order. Rows at or past the
/// device token count are skipped (Combine writes zeros there so the output is fully defined).
/// </summary>
public abstract class MoePermute
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static MoePermute Create(Device device) =>
        KernelBackend.Create<MoePermute>(device, cuda => new MoePermuteCuda(cuda), () => new MoePermuteReference());

    /// <summary>The CUDA kernel <see cref="SwiGlu"/> runs for <paramref name="rows"/> host rows of <paramref name="ffn"/>
    /// outputs on <paramref name="target"/>: one block per row, or each row's columns split over several blocks
    /// when few rows would leave SMs idle.</summary>
    public static string SwiGluVariant(int rows, int ffn, LaunchTarget target) => MoePermuteCuda.RowKernelName("moe_swiglu", rows, ffn, target.SmCount);

    /// <summary>The CUDA kernel <see cref="Combine"/> runs for <paramref name="rows"/> host rows of <paramref name="hidden"/>
    /// values on <paramref name="target"/> (the same column split as <see cref="SwiGluVariant"/>).</summary>
    public static string CombineVariant(int rows, int hidden, LaunchTarget target) => MoePermuteCuda.RowKernelName("moe_combine", rows, hidden, target.SmCount);

    /// <summary>Every name <see cref="SwiGluVariant"/> and <see cref="CombineVariant"/> can return: each kernel whole-row and column-split.</summary>
    public static IReadOnlyList<string> Variants(LaunchTarget target) =>
        (from kernel in new[] { "moe_swiglu", "moe_combine" }
         from rows in new[] { 1, 2 * Math.Max(1, target.SmCount) }
         select MoePermuteCuda.RowKernelName(kernel, rows, 2048, target.SmCount)).Distinct().ToArray();

    /// <param name="x">[>= rows, H] tokens.</param>
    /// <param name="inverse">[>= rows * topK] assignment -> permuted row, from MoeRouting.Assign.</param>
    /// <param name="permuted">[permuted rows, H] (a padded [E, P, H] buffer viewed as rows).</param>
    /// <summary>Copies each valid token's row of <paramref name="x"/> to the permuted row of each of its <paramref name="topK"/> assignments.</summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count; tokens at or past it are skipped.</param>
    /// <param name="topK">Experts per token.</param>
    public void Scatter(ComputeStream stream, Tensor x, Tensor inverse, int rows, DevicePtr tokenCount, int topK, Tensor permuted)
    {
        ArgumentNullException.ThrowIfNull(stream);
        x.RequireRank(nameof(x), 2).RequireDevice(nameof(x), stream.Device);
        RequireHalf(nameof(x), x);
        permuted.RequireRank(nameof(permuted), 2).Require(nameof(permuted), x.DType).RequireDevice(nameof(permuted), stream.Device);
        if (permuted.Dim(1) != x.Dim(1)) throw new ArgumentException($"{nameof(permuted)} must have {x.Dim(1)} columns like x, got {permuted}", nameof(permuted));
        RequireRowsAndTopK(x, inverse, rows, topK, stream.Device);
        if (rows == 0) return;
        ScatterCore(stream, x, inverse, rows, tokenCount, topK, permuted);
    }

    /// <param name="h">[rows, 2F]: gate in columns [0, F), up in [F, 2F).</param>
    /// <param name="output">[rows, F] = silu(gate) * up.</param>
    /// <param name="validInfo">offsets [E + 1] for PrefixSum, counts [E] for Padded, ignored for Dense.</param>
    /// <param name="slotsPerExpert">P for Padded.</param>
    /// <summary>output = silu(gate) · up for the valid rows of <paramref name="h"/> under <paramref name="validity"/>.</summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="rows">Rows of <paramref name="h"/> the launch covers.</param>
    /// <param name="validity">Which rows are valid: below the token count (Dense), within each expert's offsets (PrefixSum) or counts (Padded).</param>
    /// <param name="tokenCount">Device int32 valid-token count (Dense validity).</param>
    /// <param name="experts">E (PrefixSum and Padded validity).</param>
    public void SwiGlu(ComputeStream stream, Tensor h, Tensor output, int rows, RowValidity validity, Tensor validInfo,
                       DevicePtr tokenCount, int experts, int slotsPerExpert)
    {
        ArgumentNullException.ThrowIfNull(stream);
        h.RequireRank(nameof(h), 2).RequireDevice(nameof(h), stream.Device);
        RequireHalf(nameof(h), h);
        output.RequireRank(nameof(output), 2).Require(nameof(output), h.DType).RequireDevice(nameof(output), stream.Device);
        if (h.Dim(1) != 2 * output.Dim(1))
            throw new ArgumentException($"{nameof(h)} must have twice the columns of {nameof(output)} ({output}), got {h}", nameof(h));
        if (rows < 0 || rows > h.Rows || rows > output.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"must be in [0, min({h.Rows}, {output.Rows})]");
        switch (validity)
        {
            case RowValidity.PrefixSum:
                validInfo.Require(nameof(validInfo), DType.I32, experts + 1).RequireDevice(nameof(validInfo), stream.Device);
                break;
            case RowValidity.Padded:
                validInfo.Require(nameof(validInfo), DType.I32, experts).RequireDevice(nameof(validInfo), stream.Device);
                if (slotsPerExpert < 1 || (long)experts * slotsPerExpert != rows)
                    throw new ArgumentOutOfRangeException(nameof(slotsPerExpert), slotsPerExpert, $"padded rows {rows} must equal experts {experts} x P");
                break;
            case RowValidity.Dense:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(validity), validity, "unknown row validity");
        }
        if (rows == 0) return;
        SwiGluCore(stream, h, output, rows, validity, validInfo, tokenCount, experts, slotsPerExpert);
    }

    /// <param name="y">[permuted rows, H] expert outputs.</param>
    /// <param name="weights">[>= rows, topK] fp32 routing weights.</param>
    /// <param name="shared">[>= rows, H] shared-expert output to add, or null.</param>
    /// <param name="output">[>= rows, H].</param>
    /// <summary>output[t] = Σ_j weights[t, j] · y[inverse[t·topK + j]] (+ shared[t]) for valid tokens; zeros for tokens at or past the count.</summary>
    /// <param name="stream">The stream to enqueue on.</param>
    /// <param name="inverse">[>= rows * topK] assignment -> permuted row, from MoeRouting.Assign.</param>
    /// <param name="rows">Host bound on the token count (the padded size).</param>
    /// <param name="tokenCount">Device int32 valid-token count.</param>
    /// <param name="topK">Experts per token.</param>
    public void Combine(ComputeStream stream, Tensor y, Tensor inverse, Tensor weights, Tensor? shared, int rows, DevicePtr tokenCount,
                        int topK, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(stream);
        y.RequireRank(nameof(y), 2).RequireDevice(nameof(y), stream.Device);
        RequireHalf(nameof(y), y);
        long hidden = y.Dim(1);
        output.RequireRank(nameof(output), 2).Require(nameof(output), y.DType).RequireDevice(nameof(output), stream.Device);
        if (output.Dim(1) != hidden) throw new ArgumentException($"{nameof(output)} must have {hidden} columns, got {output}", nameof(output));
        RequireRowsAndTopK(output, inverse, rows, topK, stream.Device);
        weights.Require(nameof(weights), DType.F32).RequireRank(nameof(weights), 2).RequireDevice(nameof(weights), stream.Device);
        if (weights.Dim(1) != topK || weights.Rows < rows)
            throw new ArgumentException($"{nameof(weights)} must be [>= {rows}, {topK}], got {weights}", nameof(weights));
        if (shared is { } s)
        {
            s.RequireRank(nameof(shared), 2).Require(nameof(shared), y.DType).RequireDevice(nameof(shared), stream.Device);
            if (s.Dim(1) != hidden || s.Rows < rows) throw new ArgumentException($"{nameof(shared)} must be [>= {rows}, {hidden}], got {s}", nameof(shared));
        }
        if (rows == 0) return;
        CombineCore(stream, y, inverse, weights, shared, rows, tokenCount, topK, output);
    }

    private static void RequireHalf(string name, Tensor t)
    {
        if (!t.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{name} must be BF16 or F16, got {t}", name);
    }

    private static void RequireRowsAndTopK(Tensor tokens, Tensor inverse, int rows, int topK, Device device)
    {
        if (rows < 0 || rows > tokens.Rows) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"must be in [0, {tokens.Rows}]");
        if (topK < 1) throw new ArgumentOutOfRangeException(nameof(topK), topK, "must be >= 1");
        inverse.Require(nameof(inverse), DType.I32).RequireDevice(nameof(inverse), device);
        if (inverse.ElementCount < (long)rows * topK)
            throw new ArgumentException($"{nameof(inverse)} must hold >= {(long)rows * topK} entries, got {inverse}", nameof(inverse));
    }

    /// <summary>The backend's kernel behind <see cref="Scatter"/>, called once the arguments are checked.</summary>
    protected abstract void ScatterCore(ComputeStream stream, Tensor x, Tensor inverse, int rows, DevicePtr tokenCount, int topK, Tensor permuted);
    /// <summary>The backend's kernel behind <see cref="SwiGlu"/>, called once the arguments are checked.</summary>
    protected abstract void SwiGluCore(ComputeStream stream, Tensor h, Tensor output, int rows, RowValidity validity, Tensor validInfo,
                                       DevicePtr tokenCount, int experts, int slotsPerExpert);
    /// <summary>The backend's kernel behind <see cref="Combine"/>, called once the arguments are checked.</summary>
    protected abstract void CombineCore(ComputeStream stream, Tensor y, Tensor inverse, Tensor weights, Tensor? shared, int rows,
                                        DevicePtr tokenCount, int topK, Tensor output);
}
