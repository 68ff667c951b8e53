using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// w4afp8 expert weights (seed 001): int4 sign-magnitude weights with per-channel or group-128 scales,
/// activations quantized inside every forward to e4m3 with one scale per token, and the fp8 group GEMM.
/// The activation workspace is rented at construction for <c>maxRows</c> rows (the most rows any
/// problem will carry: tokens x top-k for prefix sums, E x P for padded slabs), so Forward is capturable.
/// </summary>
public sealed class W4AFp8MoeMethod : IMoeMethod
{
    private readonly OwnedMemory _memory;
    private readonly Tensor _q, _s, _aq, _as;
    private readonly Fp8Quant _quant;
    private readonly W4AFp8GroupGemm _gemm;
    private readonly bool _grouped;
    private bool _disposed;

    private W4AFp8MoeMethod(LayerContext ctx, int experts, int n, int k, bool grouped, DType activation, int maxRows,
        OwnedMemory memory, (Tensor Q, Tensor Scales) stored)
    {
        Experts = experts;
        N = n;
        K = k;
        _grouped = grouped;
        Activation = activation;
        MaxRows = maxRows;
        int kp = Fp8Quant.Pad128(k);
        _memory = memory;
        (_q, _s) = stored;
        // Rented into the same memory: if the constructor throws, the caller's dispose frees these too.
        _aq = memory.Rent(ctx.Pool, DType.Fp8E4M3, new long[] { maxRows, kp }, "w4afp8 act q");
        _as = memory.Rent(ctx.Pool, DType.F32, new long[] { maxRows }, "w4afp8 act scales");
        _quant = Fp8Quant.Create(ctx.Device);
        _gemm = W4AFp8GroupGemm.Create(ctx.Device);
        _quant.Prepare(activation, Fp8ActScaling.PerToken);
        _gemm.Prepare(activation, TokenLayout.PrefixSum, grouped);
        _gemm.Prepare(activation, TokenLayout.Padded, grouped);
    }

    /// <inheritdoc/>
    public QuantMode Mode => QuantMode.W4AFp8;
    /// <inheritdoc/>
    public string Label => _grouped ? "w4afp8/g128" : "w4afp8/channel";
    /// <inheritdoc/>
    public int Experts { get; }
    /// <inheritdoc/>
    public int N { get; }
    /// <inheritdoc/>
    public int K { get; }
    /// <summary>The activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <summary>The most rows one problem may hold: the size of the fp8 activation workspace.</summary>
    public int MaxRows { get; }
    /// <inheritdoc/>
    public long WeightBytesPerExpert => (_q.ByteCount + _s.ByteCount) / Experts;
    /// <inheritdoc/>
    public Capturability Capturability => Capturability.Yes;

    /// <summary>Quantizes bf16/fp16 device weights [E, N, K] on the device with one scale per 128 along K.</summary>
    public static W4AFp8MoeMethod Quantize(LayerContext ctx, Tensor weights, int maxRows) =>
        Quantize(ctx, weights, maxRows, Group128);

    /// <summary>
    /// Quantizes bf16/fp16 device weights [E, N, K] on the device. <paramref name="groupSize"/>: 128
    /// (one scale per 128 along K) or per channel (one per output channel).
    /// </summary>
    public static W4AFp8MoeMethod Quantize(LayerContext ctx, Tensor weights, int maxRows, GroupSize groupSize)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var (e, n, k) = MoeMethodChecks.SourceWeights(weights, ctx.Device);
        bool grouped = CheckGroup(groupSize);
        Check(ctx, e, n, k, maxRows);
        var memory = new OwnedMemory();
        try
        {
            var stored = Allocate(ctx, memory, e, n, k, grouped);
            W4AFp8GroupGemm.Create(ctx.Device).QuantizeWeights(ctx.LoadStream, weights, stored.Q, stored.Scales, grouped);
            ctx.LoadStream.Synchronize();
            return new W4AFp8MoeMethod(ctx, e, n, k, grouped, weights.DType, maxRows, memory, stored);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads pre-quantized weights: signed int4 values in [-7, 7], one per sbyte, [E, N, K], and their
    /// dequantization scales (w = q · scale) [E, G, N] with G = ceil(K / 128) or 1 for per channel.
    /// They are packed and shuffled here into the kernel's layout.
    /// </summary>
    public static W4AFp8MoeMethod FromPrequantized(LayerContext ctx, ReadOnlySpan<sbyte> values, ReadOnlySpan<float> scales,
        int experts, int n, int k, GroupSize groupSize, DType activation, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        bool grouped = CheckGroup(groupSize);
        Check(ctx, experts, n, k, maxRows);
        if (!activation.IsHalfPrecisionFloat()) throw new ArgumentException($"activation must be BF16 or F16, got {activation}", nameof(activation));
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = W4AFp8GroupGemm.ScaleGroups(kp, grouped);
        if (values.Length != (long)experts * n * k)
            throw new ArgumentException($"{nameof(values)} holds {values.Length} values, expected E*N*K = {experts}*{n}*{k}", nameof(values));
        if (scales.Length != (long)experts * groups * n)
            throw new ArgumentException($"{nameof(scales)} holds {scales.Length} values, expected [{experts}, {groups}, {n}]", nameof(scales));
        var packed = new byte[(long)experts * np * kp / 2];
        var stored = new float[(long)experts * groups * np];
        for (int e = 0; e < experts; e++)
            for (int r = 0; r < n; r++)
            {
                for (int c = 0; c < k; c++)
                {
                    int v = values[(int)(((long)e * n + r) * k + c)];
                    if (v < -7 || v > 7)
                        throw new ArgumentOutOfRangeException(nameof(values), v, $"int4 value at [{e}, {r}, {c}] must be in [-7, 7] (sign-magnitude)");
                    var (b, hi) = W4AFp8GroupGemm.Position(c);
                    packed[((long)e * np + r) * (kp / 2) + b] |= (byte)(W4AFp8GroupGemm.ToNibble(v) << (4 * hi));
                }
                for (int g = 0; g < groups; g++)
                {
                    float s = scales[(int)(((long)e * groups + g) * n + r)];
                    if (!float.IsFinite(s) || s < 0)
                        throw new ArgumentException($"{nameof(scales)}[{e}, {g}, {r}] = {s} must be finite and >= 0", nameof(scales));
                    stored[((long)e * groups + g) * np + r] = s * W4AFp8GroupGemm.NibbleFactor;
                }
            }
        var memory = new OwnedMemory();
        try
        {
            var tensors = Allocate(ctx, memory, experts, n, k, grouped);
            tensors.Q.CopyFrom<byte>(packed);
            tensors.Scales.CopyFrom<float>(stored);
            return new W4AFp8MoeMethod(ctx, experts, n, k, grouped, activation, maxRows, memory, tensors);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    private static GroupSize Group128 => GroupSize.Of(W4AFp8GroupGemm.GroupSize);

    /// <summary>The w4afp8 kernels take a grouped flag: the one place GroupSize becomes it.</summary>
    private static bool CheckGroup(GroupSize groupSize)
    {
        if (groupSize.IsPerChannel) return false;
        if (groupSize == Group128) return true;
        throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "w4afp8 group size must be 128 or per channel");
    }

    private static void Check(LayerContext ctx, int e, int n, int k, int maxRows)
    {
        if (e < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(e), $"E={e}, N={n}, K={k} must be >= 1");
        if (maxRows < 1) throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, "must be >= 1");
        QuantConfig.EnsureSupported(QuantMode.W4AFp8, ctx.Device.Info);
    }

    private static (Tensor Q, Tensor Scales) Allocate(LayerContext ctx, OwnedMemory memory, int e, int n, int k, bool grouped)
    {
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), groups = W4AFp8GroupGemm.ScaleGroups(kp, grouped);
        return (
            memory.Allocate(ctx.Device, (long)e * np * kp / 2, "w4afp8 weights", DType.Int4, e, np, kp),
            memory.Allocate(ctx.Device, (long)e * groups * np * 4, "w4afp8 scales", DType.F32, e, groups, np));
    }

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (this.QuantizedInput(Activation, stream, problem, MaxRows) is not { } input) return;
        var (a, c, totalRows, valid) = input;
        _quant.QuantizeActivations(stream, a, _aq, _as, Fp8ActScaling.PerToken, totalRows, valid);
        _gemm.Run(stream, problem.Layout, Experts, problem.RowsBound, _aq, _as, problem.Offsets, _q, _s, _grouped, c);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights(int expert)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckExpert(expert);
        // Only this expert's bytes and scales ([Np, Kp] nibbles, [G, Np] scales) are downloaded.
        var q = _q.SliceRows(expert, 1).ToArray<byte>();
        var s = _s.SliceRows(expert, 1).ToArray<float>();
        return W4AFp8GroupGemm.HostDequantize(q, s, N, K, _grouped);
    }

    /// <summary>The activation workspace (e4m3 [MaxRows, Kp], scales [MaxRows]), exposed for checks.</summary>
    public (Tensor Q, Tensor Scales) ActivationWorkspace => (_aq, _as);

    /// <summary>The stored int4 weights [E, Np, Kp] and scales [E, G, Np] (with the 512), exposed for checks.</summary>
    public (Tensor Q, Tensor Scales) Stored => (_q, _s);

    /// <summary>Frees the quantized weights, scales and workspace.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.Dispose();
    }
}
