using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>Picks the expert method of a quant mode.</summary>
public static class MoeMethods
{
    /// <summary>
    /// Builds the expert weights of one group GEMM in <paramref name="mode"/> from bf16/fp16 weights
    /// <paramref name="source"/> [E, N, K] already on the device (quantized there, on
    /// <paramref name="loadStream"/>); the caller keeps ownership of <paramref name="source"/>, which may be
    /// freed once <paramref name="loadStream"/> has finished.
    /// </summary>
    /// <param name="mode">The experts' quant mode.</param>
    /// <param name="device">The device the weights live on.</param>
    /// <param name="loadStream">The stream quantization runs on.</param>
    /// <param name="source">bf16/fp16 expert weights [E, N, K] on <paramref name="device"/>.</param>
    /// <param name="groupSize">wint4: per channel, or the group along K (a multiple of 64 dividing K; 128 in
    /// FastDeploy). w4afp8 and w4a8: per channel or 128. wint8, bf16/fp16 and nvfp4: must be per channel. wi4a16: per
    /// channel or 128 (both give its fixed 128).</param>
    /// <param name="layout">Token layout the method will see (wi4a16 sizes its tile plan with it).</param>
    /// <param name="maxRowsBound">Largest RowsBound of any problem it will run (wi4a16's plan capacity; the fp8
    /// activation workspace of w4afp8).</param>
    /// <param name="context">The layer's context: w4afp8 and nvfp4 rent their activation workspace from its pool.</param>
    /// <param name="nvfp4Backend">nvfp4 only: which fp4 path (see QuantConfig); only the Hopper dequant path exists.</param>
    public static IMoeMethod Create(QuantMode mode, Device device, ComputeStream loadStream, Tensor source, GroupSize groupSize,
                                        TokenLayout layout, int maxRowsBound, LayerContext? context = null,
                                        string nvfp4Backend = QuantConfig.DefaultNvfp4Backend)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(loadStream);
        source.RequireRank(nameof(source), 3).RequireDevice(nameof(source), device);
        if (!source.DType.IsHalfPrecisionFloat()) throw new ArgumentException($"{nameof(source)} must be BF16 or F16, got {source}", nameof(source));
        switch (mode)
        {
            case QuantMode.None:
                RequirePerChannel(mode, groupSize);
                return new HalfMoeMethod(device, loadStream, source);
            case QuantMode.WInt8:
                RequirePerChannel(mode, groupSize);
                return new WeightOnlyMoeMethod(mode, device, loadStream, source, GroupSize.PerChannel);
            case QuantMode.WInt4:
                return new WeightOnlyMoeMethod(mode, device, loadStream, source, groupSize);
            case QuantMode.Wi4A16:
                if (!groupSize.IsPerChannel && groupSize.Size != Wi4A16GroupGemm.GroupSize)
                    throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"wi4a16 uses group size {Wi4A16GroupGemm.GroupSize}");
                return new Wi4A16MoeMethod(device, loadStream, source, layout, maxRowsBound);
            case QuantMode.W4AFp8:
                if (!groupSize.IsPerChannel && groupSize.Size != W4AFp8GroupGemm.GroupSize)
                    throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"w4afp8 scales are per channel or per group of {W4AFp8GroupGemm.GroupSize}");
                // Its fp8 activation workspace holds every row of a problem: E slabs of P rows when padded.
                int rows = layout == TokenLayout.Padded ? checked((int)source.Dim(0) * maxRowsBound) : maxRowsBound;
                return W4AFp8MoeMethod.Quantize(RequireContext(mode, context, device), source, rows, groupSize);
            case QuantMode.Nvfp4:
                if (!groupSize.IsPerChannel)
                    throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "nvfp4 has fixed 16-element scale blocks; pass GroupSize.PerChannel");
                return Nvfp4MoeMethod.Quantize(RequireContext(mode, context, device), source, nvfp4Backend);
            case QuantMode.W8A8:
            case QuantMode.W4A8:
                // Its int8 activation workspace holds every row of a problem, as w4afp8's does.
                return Int8ActMoeMethod.Quantize(RequireContext(mode, context, device), source, mode, groupSize,
                    layout == TokenLayout.Padded ? checked((int)source.Dim(0) * maxRowsBound) : maxRowsBound);
            default:
                throw new NotSupportedException($"quant mode {mode.Label()} has no MoE expert method (it is a dense Linear mode)");
        }
    }


    /// <summary>
    /// The CUDA group-GEMM kernel the method <see cref="Create"/> builds for <paramref name="mode"/> runs for
    /// <paramref name="shape"/> (its host-side values; tensors are not read) on <paramref name="target"/>.
    /// </summary>
    public static string Variant(QuantMode mode, GroupSize groupSize, GroupGemmProblem shape, LaunchTarget target) => mode switch
    {
        QuantMode.None => GroupGemm.Variant(shape, new ExpertWeights(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel), target),
        QuantMode.WInt8 or QuantMode.WInt4 => GroupGemm.Variant(shape,
            new ExpertWeights(WeightOnlyMoeMethod.FormatOf(mode, groupSize), default, default, default, groupSize), target),
        QuantMode.Wi4A16 => Wi4A16GroupGemm.Variant(shape),
        QuantMode.W4AFp8 => W4AFp8GroupGemm.Variant(shape.Layout, !groupSize.IsPerChannel),
        QuantMode.Nvfp4 => Nvfp4GroupGemm.Variant(shape.Layout),
        QuantMode.W8A8 or QuantMode.W4A8 => Int8ActGroupGemm.KernelName(Int8ActGroupGemm.ChooseVariant(shape.Layout, shape.Experts, shape.RowsBound), shape.Layout,
            mode == QuantMode.W8A8 ? WeightOnlyFormat.Int8 : WeightOnlyFormat.Int4, !groupSize.IsPerChannel && Fp8Quant.Pad128(shape.K) > Int8ActPacking.Block),
        _ => throw new NotSupportedException($"quant mode {mode.Label()} has no MoE expert method (it is a dense Linear mode)"),
    };

    /// <summary>
    /// Whether the expert method of <paramref name="mode"/> takes the gate/up GEMM with the SwiGLU epilogue fused
    /// (<see cref="GroupGemmEpilogue.SwiGlu"/>): bf16/fp16, wint8 and wint4, whose group GEMM fuses it in every kernel
    /// variant. The others (wi4a16, w4afp8, nvfp4) write the [rows, 2F] product and the layer runs SwiGLU after it.
    /// </summary>
    public static bool FusesSwiGlu(QuantMode mode) => mode is QuantMode.None or QuantMode.WInt8 or QuantMode.WInt4;

    private static LayerContext RequireContext(QuantMode mode, LayerContext? context, Device device)
    {
        if (context is null)
            throw new ArgumentNullException(nameof(context), $"{mode.Label()} expert weights rent their activation workspace from a layer context's pool; pass one");
        if (!ReferenceEquals(context.Device, device))
            throw new ArgumentException($"context is on {context.Device.Info.Name}, weights on {device.Info.Name}", nameof(context));
        return context;
    }

    private static void RequirePerChannel(QuantMode mode, GroupSize groupSize)
    {
        if (!groupSize.IsPerChannel)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"{mode.Label()} expert weights have no group size; pass GroupSize.PerChannel");
    }
}

/// <summary>
/// Shared half of the expert methods: owns the weight (+ scale, zero) buffers in the layout the kernel
/// reads, and dequantizes an expert on the host for checks.
/// </summary>
public abstract class MoeMethodBase : IMoeMethod
{
    private readonly List<DeviceBuffer> _buffers = new();
    private bool _disposed;

    /// <summary>Allocates the expert weights [E, N, K] (and scales and zeros per <paramref name="format"/> and <paramref name="groupSize"/>) on <paramref name="device"/> for bf16/fp16 <paramref name="source"/>, in <paramref name="mode"/>; the subclass fills them.</summary>
    protected MoeMethodBase(QuantMode mode, Device device, Tensor source, ExpertWeightFormat format, GroupSize groupSize)
    {
        Mode = mode;
        Device = device;
        Activation = source.DType;
        Experts = (int)source.Dim(0);
        N = (int)source.Dim(1);
        K = (int)source.Dim(2);
        var wtype = ExpertWeights.WeightType(format, Activation);
        if (wtype.IsPacked() && (K & 1) != 0)
            throw new ArgumentException($"{mode.Label()} packs two weights per byte: K = {K} must be even", nameof(source));
        try
        {
            var w = Own(device.AllocateTensor(wtype, new long[] { Experts, N, K }, out var wt, $"{mode.Label()} expert weights"));
            int groups = format is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup ? CheckGroups(groupSize) : 1;
            Tensor scales = default, zeros = default;
            if (format != ExpertWeightFormat.Half)
                Own(device.AllocateTensor(DType.F32, new long[] { Experts, N, groups }, out scales, $"{mode.Label()} expert scales"));
            if (format == ExpertWeightFormat.Int4ZeroPointGroup)
                Own(device.AllocateTensor(DType.F32, new long[] { Experts, N, groups }, out zeros, $"{mode.Label()} expert zeros"));
            Weights = new ExpertWeights(format, wt, scales, zeros, groupSize);
            Weights.Validate(Activation, Experts, N, K);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private int CheckGroups(GroupSize groupSize)
    {
        if (groupSize.IsPerChannel || groupSize.Size % ExpertWeights.GroupGranule != 0)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"{Mode.Label()} group size must be a positive multiple of {ExpertWeights.GroupGranule}");
        if (!groupSize.Divides(K))
            throw new ArgumentException($"{Mode.Label()} group size {groupSize.Size} does not divide K = {K}", nameof(groupSize));
        return groupSize.Groups(K);
    }

    private DeviceBuffer Own(DeviceBuffer b)
    {
        _buffers.Add(b);
        return b;
    }

    /// <summary>The device the weights live on.</summary>
    protected Device Device { get; }
    /// <summary>The activation type (the source's: bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <summary>The expert weights, scales and zeros, owned by the method.</summary>
    public ExpertWeights Weights { get; }
    /// <inheritdoc/>
    public QuantMode Mode { get; }
    /// <inheritdoc/>
    public abstract string Label { get; }
    /// <inheritdoc/>
    public int Experts { get; }
    /// <inheritdoc/>
    public int N { get; }
    /// <inheritdoc/>
    public int K { get; }
    /// <inheritdoc/>
    public long WeightBytesPerExpert => Weights.BytesPerExpert(Activation);
    /// <inheritdoc/>
    public virtual Capturability Capturability => Capturability.Yes;

    /// <inheritdoc/>
    public abstract void Forward(ComputeStream stream, GroupGemmProblem problem);

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
        if (expert < 0 || expert >= Experts) throw new ArgumentOutOfRangeException(nameof(expert), expert, $"must be in [0, {Experts})");
        long wbytes = Weights.Weights.DType.ByteCount((long)N * K);
        var bytes = System.Buffers.ArrayPool<byte>.Shared.Rent((int)wbytes);
        try
        {
            var span = bytes.AsSpan(0, (int)wbytes);
            Device.CopyToHost(span, Weights.Weights.Ptr + expert * wbytes);
            int groups = Weights.Groups;
            float[] scales = Array.Empty<float>(), zeros = Array.Empty<float>();
            if (!Weights.Scales.IsEmpty) scales = Download(Weights.Scales.Ptr + 4L * expert * N * groups, N * groups);
            if (!Weights.Zeros.IsEmpty) zeros = Download(Weights.Zeros.Ptr + 4L * expert * N * groups, N * groups);
            ExpertWeightMath.Dequantize(Weights.Format, Activation, N, K, Weights.GroupSize, span, scales, zeros, destination);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private float[] Download(DevicePtr ptr, int count)
    {
        var f = new float[count];
        Device.CopyToHost(System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.AsSpan()), ptr);
        return f;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> once disposed: every Forward starts here, since the
    /// expert kernels take the weights' raw addresses, which no tensor check sees freed.</summary>
    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Runs <see cref="DisposeCore"/>, then frees the weight buffers; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeCore();
        for (int i = _buffers.Count - 1; i >= 0; i--) _buffers[i].Dispose();
        _buffers.Clear();
        GC.SuppressFinalize(this);
    }

    /// <summary>A subclass's own cleanup (its kernel's workspace), run before the weights are freed.</summary>
    protected virtual void DisposeCore() { }
}
