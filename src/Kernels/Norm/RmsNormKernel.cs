namespace GraphEngine.Kernels.Norm;

/// <summary>
/// RMSNorm over the last dimension with fp32 accumulation: out = x · rsqrt(mean(x²) + eps) · w.
/// With a residual it is the fused variant: z = x + r (rounded to the activation type) is written back
/// to r and normalized. Rows at or past the device token count are skipped (left untouched).
/// </summary>
public abstract class RmsNormKernel
{
    /// <summary>Largest hidden size accepted (rows past what registers hold are read twice, see rms_norm_long).</summary>
    public const int MaxHidden = 65536;

    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static RmsNormKernel Create(Device device) =>
        KernelBackend.Create<RmsNormKernel>(device, cuda => new RmsNormKernelCuda(cuda), () => new RmsNormKernelReference(), "RmsNorm kernel");

    /// <summary>
    /// The CUDA kernel a call with <paramref name="rows"/> host rows of <paramref name="hidden"/> runs on
    /// <paramref name="target"/>: rms_norm&lt;T, vector width, items per thread, R, weight loaded early&gt;, T the
    /// element type and R the residual flag (the caller's, not the rule's).
    /// </summary>
    public static string Variant(int hidden, int rows, LaunchTarget target) =>
        RmsNormKernelCuda.Name(LaunchTarget.TypeParameter, hidden, "R", RmsNormKernelCuda.EarlyWeight(rows, target.SmCount));

    /// <summary>Every name <see cref="Variant"/> can return on <paramref name="target"/>: each hidden size the CUDA
    /// backend accepts (1 to <see cref="MaxHidden"/>) with few rows and with many.</summary>
    public static IReadOnlyList<string> Variants(LaunchTarget target)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        for (int hidden = 1; hidden <= MaxHidden; hidden++)
        {
            names.Add(Variant(hidden, 1, target));
            names.Add(Variant(hidden, 2 * target.SmCount + 1, target));
        }
        return names.ToArray();
    }

    /// <summary>Checks a hidden size this backend can run, naming the value.</summary>
    public virtual void ValidateHidden(int hidden)
    {
        if (hidden < 1 || hidden > MaxHidden)
            throw new ArgumentOutOfRangeException(nameof(hidden), hidden, $"RMSNorm hidden size must be in [1, {MaxHidden}]");
    }

    /// <summary>Prepares (compiles) what <see cref="Run"/> needs for this shape; call at construction.</summary>
    public virtual void Prepare(DType dtype, int hidden, bool residual) { }

    /// <summary>Normalizes rows [0, <paramref name="rows"/>) below <paramref name="tokenCount"/> of <paramref name="x"/> [>= rows, H] into <paramref name="output"/> [>= rows, H] with <paramref name="weight"/> [H] and <paramref name="eps"/>; with <paramref name="residual"/> [>= rows, H], first r = x + r is written back and normalized.</summary>
    public void Run(ComputeStream stream, Tensor x, Tensor weight, Tensor output, int rows, DevicePtr tokenCount, float eps, Tensor? residual = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        x.RequireRank(nameof(x), 2).RequireDevice(nameof(x), stream.Device);
        if (!x.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(x)} must be BF16 or F16, got {x}", nameof(x));
        int hidden = checked((int)x.Dim(1));
        ValidateHidden(hidden);
        weight.Require(nameof(weight), x.DType, hidden).RequireDevice(nameof(weight), stream.Device);
        output.RequireRank(nameof(output), 2).Require(nameof(output), x.DType).RequireDevice(nameof(output), stream.Device);
        if (output.Dim(1) != hidden) throw new ArgumentException($"{nameof(output)} must have {hidden} columns, got {output}", nameof(output));
        if (residual is { } r)
        {
            r.RequireRank(nameof(residual), 2).Require(nameof(residual), x.DType).RequireDevice(nameof(residual), stream.Device);
            if (r.Dim(1) != hidden) throw new ArgumentException($"{nameof(residual)} must have {hidden} columns, got {r}", nameof(residual));
            if (rows > r.Rows) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"residual {r} has fewer rows");
        }
        if (!(eps > 0f) || !float.IsFinite(eps)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "epsilon must be finite and > 0");
        if (rows < 0 || rows > x.Rows || rows > output.Rows)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be in [0, min({x.Rows}, {output.Rows})]");
        if (rows == 0) return;
        RunCore(stream, x, weight, output, rows, tokenCount, eps, residual);
    }

    /// <summary>The backend's kernel behind <see cref="Run"/>, called once the arguments are checked.</summary>
    protected abstract void RunCore(ComputeStream stream, Tensor x, Tensor weight, Tensor output, int rows, DevicePtr tokenCount, float eps, Tensor? residual);

    /// <summary>The normalization of one row in fp32, as both backends define it (host oracle helper).</summary>
    public static void NormalizeRow(ReadOnlySpan<float> z, ReadOnlySpan<float> weight, float eps, Span<float> destination)
    {
        float ss = 0f;
        for (int i = 0; i < z.Length; i++) ss += z[i] * z[i];
        float inv = 1f / MathF.Sqrt(ss / z.Length + eps);
        for (int i = 0; i < z.Length; i++) destination[i] = z[i] * inv * weight[i];
    }
}
