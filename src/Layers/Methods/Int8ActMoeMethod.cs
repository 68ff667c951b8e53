using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// w8a8 / w4a8 expert weights [E, N, K] for the int8-activation group GEMM (<see cref="Int8ActGroupGemm"/>): each
/// expert quantized with the weight-only rule on the device (int8 per channel, int4 per channel or group 128) and
/// stored in <see cref="Int8ActPacking"/>'s layout, activations quantized to int8 per token inside every forward.
/// Capturable: the activation workspace is rented once, at construction, for the most rows a problem carries.
/// </summary>
public sealed class Int8ActMoeMethod : IMoeMethod
{
    private readonly OwnedMemory _memory;
    private readonly Tensor _w, _ws, _aq, _as;
    private readonly Int8Quant _quant;
    private readonly Int8ActGroupGemm _gemm;
    private readonly WeightOnlyScheme _scheme;
    private bool _disposed;

    private Int8ActMoeMethod(LayerContext ctx, WeightOnlyScheme scheme, int experts, int n, int k, DType activation, int maxRows,
        byte[] packed, float[] packedScales)
    {
        Experts = experts;
        N = n;
        K = k;
        _scheme = scheme;
        Activation = activation;
        MaxRows = maxRows;
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), row = Int8ActPacking.RowBytes(scheme.Format, k), groups = Int8ActPacking.Groups(scheme.GroupSize, k);
        _memory = new OwnedMemory();
        try
        {
            _w = _memory.Allocate(ctx.Device, packed.Length, $"{Label} expert weights", scheme.Format == WeightOnlyFormat.Int8 ? DType.I8 : DType.U8, experts, np, row);
            _ws = _memory.Allocate(ctx.Device, packedScales.Length * 4L, $"{Label} expert scales", DType.F32, experts, groups, np);
            _w.CopyFrom<byte>(packed);
            _ws.CopyFrom<float>(packedScales);
            _aq = _memory.Rent(ctx.Pool, DType.I8, new long[] { maxRows, kp }, $"{Label} act q");
            _as = _memory.Rent(ctx.Pool, DType.F32, new long[] { maxRows }, $"{Label} act scales");
            _quant = Int8Quant.Create(ctx.Device);
            _gemm = Int8ActGroupGemm.Create(ctx.Device);
            _quant.Prepare(activation);
            foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded }) _gemm.Prepare(activation, layout, scheme.Format, groups > 1);
        }
        catch
        {
            _memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Quantizes bf16/fp16 device weights [E, N, K] for <paramref name="mode"/> (W8A8 or W4A8) with
    /// <paramref name="group"/> (per channel; 128 for w4a8). <paramref name="maxRows"/>: the most rows a problem carries
    /// (tokens x top-k for prefix sums, E x P padded). Bad groups and GPUs without int8 MMA are refused in one line.
    /// </summary>
    public static Int8ActMoeMethod Quantize(LayerContext ctx, Tensor weights, QuantMode mode, GroupSize group, int maxRows, string name = "experts")
    {
        ArgumentNullException.ThrowIfNull(ctx);
        var (e, n, k) = MoeMethodChecks.SourceWeights(weights, ctx.Device);
        var scheme = mode switch
        {
            QuantMode.W8A8 => new WeightOnlyScheme(WeightOnlyFormat.Int8, group),
            QuantMode.W4A8 => new WeightOnlyScheme(WeightOnlyFormat.Int4, group),
            _ => throw new ArgumentException($"moe '{name}': {mode.Label()} is not an int8-activation mode (w8a8, w4a8)", nameof(mode)),
        };
        Int8ActPacking.Validate(scheme.Format, group, n, k, $"moe '{name}' ({mode.Label()})");
        if (maxRows < 1) throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, $"moe '{name}': max rows must be >= 1");
        QuantConfig.EnsureSupported(mode, ctx.Device.Info, name);
        int np = Fp8Quant.Pad128(n), row = Int8ActPacking.RowBytes(scheme.Format, k), groups = Int8ActPacking.Groups(scheme.GroupSize, k);
        sbyte[] q;
        float[] s;
        var device = ctx.Device;
        using (device.AllocateTensor(DType.I8, new long[] { (long)e * n, k }, out var qT, $"moe '{name}' q (load)"))
        using (device.AllocateTensor(DType.F32, new long[] { (long)e * n, scheme.Groups(k) }, out var sT, $"moe '{name}' scales (load)"))
        {
            // Experts stacked as one [E * N, K] matrix: the quantizer's groups never cross a row, so this is per expert.
            WeightQuantize.Create(device).Quantize(ctx.LoadStream, weights.Reshape((long)e * n, k), scheme, qT, sT);
            ctx.LoadStream.Synchronize();
            q = qT.ToArray<sbyte>();
            s = sT.ToArray<float>();
        }
        var packed = new byte[(long)e * np * row];
        var packedScales = new float[(long)e * groups * np];
        Parallel.For(0, e, x => Int8ActPacking.Pack(scheme.Format, scheme.GroupSize, n, k,
            q.AsSpan((int)((long)x * n * k), n * k), s.AsSpan(x * n * scheme.Groups(k), n * scheme.Groups(k)),
            packed.AsSpan((int)((long)x * np * row), np * row), packedScales.AsSpan(x * groups * np, groups * np)));
        return new Int8ActMoeMethod(ctx, scheme, e, n, k, weights.DType, maxRows, packed, packedScales);
    }

    /// <inheritdoc/>
    public QuantMode Mode => _scheme.Format == WeightOnlyFormat.Int8 ? QuantMode.W8A8 : QuantMode.W4A8;
    /// <inheritdoc/>
    public string Label => Mode.Label() + (_scheme.PerChannel ? "" : $"/{_scheme.GroupSize}");
    /// <inheritdoc/>
    public int Experts { get; }
    /// <inheritdoc/>
    public int N { get; }
    /// <inheritdoc/>
    public int K { get; }
    /// <summary>The activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <summary>The most rows a problem may carry (the activation workspace's rows).</summary>
    public int MaxRows { get; }
    /// <inheritdoc/>
    public long WeightBytesPerExpert => (_w.ByteCount + _ws.ByteCount) / Experts;
    /// <inheritdoc/>
    public Capturability Capturability => Capturability.Yes;

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (this.QuantizedInput(Activation, stream, problem, MaxRows) is not { } input) return;
        var (a, c, totalRows, valid) = input;
        _quant.QuantizeActivations(stream, a, _aq, _as, totalRows, valid);
        _gemm.Run(stream, problem.Layout, Experts, problem.RowsBound, _aq, _as, problem.Offsets, _w, _ws, c);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights(int expert)
    {
        var v = new float[(long)N * K];
        DequantizedWeights(expert, v);
        return v;
    }

    /// <inheritdoc/>
    public void DequantizedWeights(int expert, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckExpert(expert);
        var wb = _w.SliceRows(expert, 1);
        var sb = _ws.SliceRows(expert, 1);
        // Pooled host buffers: a check reads every expert of a layer, hundreds of megabytes a case.
        var bytes = System.Buffers.ArrayPool<byte>.Shared.Rent((int)wb.ByteCount);
        var scales = System.Buffers.ArrayPool<float>.Shared.Rent((int)(sb.ByteCount / 4));
        try
        {
            var w = bytes.AsSpan(0, (int)wb.ByteCount);
            var s = scales.AsSpan(0, (int)(sb.ByteCount / 4));
            wb.CopyTo(w);
            sb.CopyTo(s);
            Int8ActPacking.Dequantize(_scheme.Format, _scheme.GroupSize, N, K, w, s, destination);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
            System.Buffers.ArrayPool<float>.Shared.Return(scales);
        }
    }

    /// <summary>The stored weights [E, Np, row bytes] and scales [E, groups, Np], exposed for checks.</summary>
    public (Tensor Weights, Tensor Scales) Stored => (_w, _ws);

    /// <summary>The activation workspace (int8 [MaxRows, Kp], scales [MaxRows]), exposed for checks.</summary>
    public (Tensor Q, Tensor Scales) ActivationWorkspace => (_aq, _as);

    /// <summary>Frees the weights, scales and workspace.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.Dispose();
    }
}
