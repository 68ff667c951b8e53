using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// w8a8 and w4a8 Linear: int8 (per-channel scales) or int4 (per-channel or group-128 scales) weights, activations
/// quantized inside every forward to int8 with one scale per token, and the int8 tensor-core GEMM that applies
/// both scales in its epilogue (<see cref="Int8ActGemm"/>; at many rows the TMA kernel on sm_90, cuBLASLt IMMA and a scale
/// pass elsewhere). Weights are quantized with the weight-only quantizer's
/// rule (scale = amax / 127 or / 7, round half to even, clamp), on the device for device, host and random weights,
/// or taken as given (offline). No bias. Forward is capturable: the activation workspace is rented once, at
/// construction, for <see cref="LayerContext.MaxTokens"/> rows.
/// </summary>
public sealed class Int8ActLinearMethod : ILinearMethod
{
    private readonly OwnedMemory _memory;
    private readonly Tensor _w, _ws, _aq, _as;
    private readonly Int8Quant _quant;
    private readonly Int8ActGemm _gemm;
    private readonly Int8Gemm? _imma;
    private readonly Int8ScaleEpilogue? _epilogue;
    private readonly Tensor? _c32;
    private readonly int _maxRows, _major, _minor;
    private readonly WeightOnlyScheme _scheme;
    private bool _disposed;

    private Int8ActLinearMethod(LayerContext ctx, string name, DType activation, WeightOnlyScheme scheme, int n, int k, sbyte[] q, float[] scales)
    {
        InFeatures = k;
        OutFeatures = n;
        Activation = activation;
        _scheme = scheme;
        _maxRows = ctx.MaxTokens;
        (_major, _minor) = (ctx.Device.Info.ComputeMajor, ctx.Device.Info.ComputeMinor);
        var format = scheme.Format;
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), row = Int8ActPacking.RowBytes(format, k), groups = Int8ActPacking.Groups(scheme.GroupSize, k);
        var packed = new byte[(long)np * row];
        var packedScales = new float[(long)groups * np];
        Int8ActPacking.Pack(format, scheme.GroupSize, n, k, q, scales, packed, packedScales);
        _memory = new OwnedMemory();
        try
        {
            _w = _memory.Allocate(ctx.Device, packed.Length, $"{name} weights", format == WeightOnlyFormat.Int8 ? DType.I8 : DType.U8, np, row);
            _ws = _memory.Allocate(ctx.Device, packedScales.Length * 4L, $"{name} weight scales", DType.F32, groups, np);
            _w.CopyFrom<byte>(packed);
            _ws.CopyFrom<float>(packedScales);
            _aq = _memory.Rent(ctx.Pool, DType.I8, new long[] { ctx.MaxTokens, kp }, $"{name} act q");
            _as = _memory.Rent(ctx.Pool, DType.F32, new long[] { ctx.MaxTokens }, $"{name} act scales");
            _quant = Int8Quant.Create(ctx.Device);
            _gemm = Int8ActGemm.Create(ctx.Device);
            _quant.Prepare(activation);
            _gemm.Prepare(activation, format, groups > 1);
            if (ImmaApplies(format, groups > 1, ctx.MaxTokens, _major, _minor))
            {
                // The int32 product of the IMMA path, [MaxTokens, Np] (4 bytes per output): the cost of the path.
                _c32 = _memory.Rent(ctx.Pool, DType.I32, new long[] { ctx.MaxTokens, np }, $"{name} int32 product");
                _imma = Int8Gemm.Create(ctx.Device);
                _epilogue = Int8ScaleEpilogue.Create(ctx.Device);
                _epilogue.Prepare(activation);
            }
        }
        catch
        {
            _memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Off sm_90, the launch with at least this many host rows runs w8a8 (int8 weights, per-channel scales) as cuBLASLt's
    /// IMMA product into an int32 workspace plus <see cref="Int8ScaleEpilogue"/>: at many rows cuBLASLt's int8 kernels run
    /// far closer to the int8 matrix rate than the mma.sync tile (the block_fp8 mma.sync kernel reaches 0.35-0.45 of its
    /// wgmma twin). On sm_90 the TMA kernel (<see cref="Int8ActGemm.TmaApplies"/>, from the same row count) takes these
    /// launches instead: it applies the scales from its int32 accumulators, with no workspace and no second pass (on the
    /// H200 the IMMA path took 67.8 us at 1024 x 4096 x 4096 against 44.7 us for bf16). The int32 sums are exact on every
    /// path, so the output bits do not depend on it. w4a8 always runs our mma.sync kernel (cuBLASLt has no int4 x int8),
    /// as does grouped scaling (it needs the per-block partials).
    /// </summary>
    public const int ImmaMinRows = Int8ActGemm.TmaMinRows;

    /// <summary>
    /// The rule: whether a launch over <paramref name="rows"/> host rows takes the IMMA path on a GPU of this compute
    /// capability (a pure function of the format, grouping, rows and architecture): w8a8 from <see cref="ImmaMinRows"/>
    /// rows where the TMA kernel does not apply.
    /// </summary>
    public static bool ImmaApplies(WeightOnlyFormat format, bool grouped, int rows, int computeMajor, int computeMinor) =>
        format == WeightOnlyFormat.Int8 && !grouped && rows >= ImmaMinRows
        && !Int8ActGemm.TmaApplies(format, grouped, rows, computeMajor, computeMinor);

    /// <summary>
    /// Builds the method for <paramref name="mode"/> (<see cref="QuantMode.W8A8"/>: int8 per channel;
    /// <see cref="QuantMode.W4A8"/>: int4 per channel or group 128) from any weight source. Bad input (a group that
    /// does not divide K, a group the kernel does not take, offline weights of another scheme, a GPU without int8
    /// MMA) is refused in one line naming the layer, the value and the constraint.
    /// </summary>
    public static Int8ActLinearMethod Create(LayerContext ctx, DType activation, QuantMode mode, GroupSize group, LinearWeights weights, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(weights);
        var scheme = SchemeOf(mode, group, name);
        if (!activation.IsHalfPrecisionFloat())
            throw new ArgumentException($"linear '{name}': activation type must be BF16 or F16, got {activation}", nameof(activation));
        int n = weights.OutFeatures, k = weights.InFeatures;
        Int8ActPacking.Validate(scheme.Format, group, n, k, $"linear '{name}' ({mode.Label()})");
        QuantConfig.EnsureSupported(mode, ctx.Device.Info, name);
        if (weights is OfflineWeights o)
        {
            if (o.Quantized.Scheme != scheme)
                throw new ArgumentException($"linear '{name}': offline weights are {o.Quantized.Scheme.Label} but the layer is {mode.Label()} ({scheme.Label} weights)", nameof(weights));
            return new Int8ActLinearMethod(ctx, name, activation, scheme, n, k, o.Quantized.Values, o.Quantized.Scales);
        }
        var (q, s) = QuantizeOnDevice(ctx, scheme, weights, name);
        return new Int8ActLinearMethod(ctx, name, activation, scheme, n, k, q, s);
    }

    /// <summary>
    /// Loads pre-quantized int4 codes packed two per byte along K, low nibble first, two's complement ([N, K / 2]),
    /// with scales [N, groups]: the checkpoint form of w4a8. K must be even (a byte holds two codes of one row).
    /// </summary>
    public static Int8ActLinearMethod FromPackedInt4(LayerContext ctx, DType activation, GroupSize group, int n, int k,
        ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, string name = "linear")
    {
        if ((k & 1) != 0)
            throw new ArgumentException($"linear '{name}': packed int4 weights hold two codes per byte along K, so K must be even; got K={k}", nameof(k));
        return Create(ctx, activation, QuantMode.W4A8, group, LinearWeights.Offline(QuantizedWeights.FromPackedInt4(group, n, k, packed, scales)), name);
    }

    private static WeightOnlyScheme SchemeOf(QuantMode mode, GroupSize group, string name) => mode switch
    {
        QuantMode.W8A8 => new WeightOnlyScheme(WeightOnlyFormat.Int8, group),
        QuantMode.W4A8 => new WeightOnlyScheme(WeightOnlyFormat.Int4, group),
        _ => throw new ArgumentException($"linear '{name}': {mode.Label()} is not an int8-activation mode (w8a8, w4a8)", nameof(mode)),
    };

    /// <summary>Logical codes and scales from the device quantizer (the weight-only one: the same rule on both backends), downloaded for packing.</summary>
    private static (sbyte[] Q, float[] Scales) QuantizeOnDevice(LayerContext ctx, WeightOnlyScheme scheme, LinearWeights weights, string name)
    {
        var device = ctx.Device;
        var stream = ctx.LoadStream;
        int n = weights.OutFeatures, k = weights.InFeatures;
        var temps = new List<IDisposable>();
        try
        {
            temps.Add(device.AllocateTensor(DType.I8, new long[] { n, k }, out var q, $"{name} q (load)"));
            temps.Add(device.AllocateTensor(DType.F32, new long[] { n, scheme.Groups(k) }, out var s, $"{name} scales (load)"));
            var quantize = WeightQuantize.Create(device);
            if (!WeightOnlyLinearMethod.QuantizeSource(device, stream, quantize, weights, scheme, q, s, name, temps))
                throw new ArgumentException($"linear '{name}': unknown weight source {weights.GetType().Name}", nameof(weights));
            stream.Synchronize();
            return (q.ToArray<sbyte>(), s.ToArray<float>());
        }
        finally
        {
            for (int i = temps.Count - 1; i >= 0; i--) temps[i].Dispose();
        }
    }

    /// <inheritdoc/>
    public QuantMode Mode => _scheme.Format == WeightOnlyFormat.Int8 ? QuantMode.W8A8 : QuantMode.W4A8;
    /// <inheritdoc/>
    public string Label => Mode.Label() + (_scheme.PerChannel ? "" : $"/{_scheme.GroupSize}");
    /// <summary>Scale grouping of the weights: per channel, or 128 along K (w4a8 only).</summary>
    public GroupSize GroupSize => _scheme.GroupSize;
    /// <inheritdoc/>
    public int InFeatures { get; }
    /// <inheritdoc/>
    public int OutFeatures { get; }
    /// <summary>The activation type the input and output have (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <inheritdoc/>
    public long WeightBytes => _w.ByteCount + _ws.ByteCount;

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckForward(Activation, stream, input, output, paddedRows, _maxRows);
        _quant.QuantizeActivations(stream, input, _aq, _as, paddedRows, tokenCount);
        if (_imma is not null && ImmaApplies(_scheme.Format, !_scheme.PerChannel, paddedRows, _major, _minor))
        {
            // cuBLASLt computes every host row (it cannot read the device count); rows past it hold stale codes and
            // land only in the workspace, which the epilogue reads below the count.
            var c32 = _c32!.Value;
            _imma.MatMul(stream, _aq, _w, c32, paddedRows);
            _epilogue!.Apply(stream, c32, _as, _ws, output, paddedRows, tokenCount);
        }
        else
            _gemm.MatMul(stream, _aq, _as, _w, _ws, output, paddedRows, tokenCount);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Int8ActPacking.Dequantize(_scheme.Format, _scheme.GroupSize, OutFeatures, InFeatures, _w.ToArray<byte>(), _ws.ToArray<float>());
    }

    /// <summary>The stored weights ([Np, Kp] I8 or [Np, Kp / 2] U8) and scales [groups, Np], exposed for checks.</summary>
    public (Tensor Weights, Tensor Scales) Stored => (_w, _ws);

    /// <summary>Activation quantization workspace, exposed for checks: int8 codes [MaxTokens, Kp] and scales [MaxTokens].</summary>
    public (Tensor Q, Tensor Scales) ActivationWorkspace => (_aq, _as);

    /// <summary>Frees the weights, scales and the activation workspace.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _imma?.Dispose();
        _memory.Dispose();
    }
}
