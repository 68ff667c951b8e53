using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>Fills <paramref name="packed"/> [N, K/2] (two e2m1 per byte, low nibble first) and <paramref name="blockScales"/> [N, K/16] (e4m3) with expert <paramref name="expert"/>'s ModelOpt bytes.</summary>
public delegate void Nvfp4ExpertReader(int expert, byte[] packed, byte[] blockScales);

/// <summary>
/// nvfp4 (modelopt_fp4) expert weights on the dequant path: fp4 e2m1 weights with e4m3 scales per 16
/// along K and an fp32 global scale per expert, expanded to bf16/fp16 in registers by the group GEMM
/// (Hopper has no fp4 MMA). Native SM100 fp4 (tcgen05, FlashInfer-CUTLASS) is not implemented; asking
/// for it is refused (<see cref="QuantConfig.CheckNvfp4Backend"/>). Activations stay in the layer's
/// type, so Forward needs no workspace and is capturable.
/// </summary>
public sealed class Nvfp4MoeMethod : IMoeMethod
{
    private readonly OwnedMemory _memory;
    private readonly Tensor _q, _s, _g;
    private readonly Nvfp4GroupGemm _gemm;
    private bool _disposed;

    private Nvfp4MoeMethod(LayerContext ctx, int experts, int n, int k, DType activation, OwnedMemory memory, (Tensor Q, Tensor BlockScales, Tensor Global) stored)
    {
        Experts = experts;
        N = n;
        K = k;
        Activation = activation;
        _memory = memory;
        (_q, _s, _g) = stored;
        _gemm = Nvfp4GroupGemm.Create(ctx.Device);
        _gemm.Prepare(activation, TokenLayout.PrefixSum);
        _gemm.Prepare(activation, TokenLayout.Padded);
    }

    /// <inheritdoc/>
    public QuantMode Mode => QuantMode.Nvfp4;
    /// <inheritdoc/>
    public string Label => "nvfp4/g16 (dequant)";
    /// <inheritdoc/>
    public int Experts { get; }
    /// <inheritdoc/>
    public int N { get; }
    /// <inheritdoc/>
    public int K { get; }
    /// <summary>The activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <inheritdoc/>
    public long WeightBytesPerExpert => (_q.ByteCount + _s.ByteCount + _g.ByteCount) / Experts;
    /// <inheritdoc/>
    public Capturability Capturability => Capturability.Yes;

    /// <summary>Quantizes bf16/fp16 device weights [E, N, K] on the device.</summary>
    public static Nvfp4MoeMethod Quantize(LayerContext ctx, Tensor weights, string nvfp4Backend = QuantConfig.DefaultNvfp4Backend)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        QuantConfig.CheckNvfp4Backend(nvfp4Backend, nameof(nvfp4Backend));
        var (e, n, k) = MoeMethodChecks.SourceWeights(weights, ctx.Device);
        Check(ctx, e, n, k);
        var memory = new OwnedMemory();
        try
        {
            var stored = Allocate(ctx, memory, e, n, k);
            using (var amax = ctx.Device.AllocateTensor(DType.I32, new long[] { e }, out var amaxT, "nvfp4 amax"))
            {
                Nvfp4GroupGemm.Create(ctx.Device).QuantizeWeights(ctx.LoadStream, weights, stored.Q, stored.BlockScales, stored.Global, amaxT);
                ctx.LoadStream.Synchronize();
            }
            return new Nvfp4MoeMethod(ctx, e, n, k, weights.DType, memory, stored);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads a ModelOpt checkpoint's tensors: weight [E, N, K/2] bytes (two e2m1 per byte, low nibble
    /// first), weight_scale [E, N, K/16] e4m3 bytes, weight_scale_2 [E] fp32 (w = q · scale · scale_2).
    /// They are padded and shuffled here into the kernel's layout. K must be a multiple of 16.
    /// </summary>
    public static Nvfp4MoeMethod FromPrequantized(LayerContext ctx, ReadOnlySpan<byte> packed, ReadOnlySpan<byte> blockScales,
        ReadOnlySpan<float> globalScales, int experts, int n, int k, DType activation, string nvfp4Backend = QuantConfig.DefaultNvfp4Backend)
    {
        CheckPrequantizedK(k);
        if (packed.Length != (long)experts * n * k / 2)
            throw new ArgumentException($"{nameof(packed)} holds {packed.Length} bytes, expected [{experts}, {n}, {k / 2}]", nameof(packed));
        if (blockScales.Length != (long)experts * n * k / Nvfp4GroupGemm.BlockSize)
            throw new ArgumentException($"{nameof(blockScales)} holds {blockScales.Length} bytes, expected [{experts}, {n}, {k / 16}]", nameof(blockScales));
        // Copied once: a span cannot be captured by the per-expert reader (callers of this overload hold the layer anyway).
        byte[] q = packed.ToArray(), s = blockScales.ToArray();
        int qBytes = n * k / 2, sBytes = n * k / Nvfp4GroupGemm.BlockSize;
        return FromPrequantized(ctx, experts, n, k, activation, globalScales, (e, qDst, sDst) =>
        {
            q.AsSpan(e * qBytes, qBytes).CopyTo(qDst);
            s.AsSpan(e * sBytes, sBytes).CopyTo(sDst);
        }, nvfp4Backend);
    }

    /// <summary>
    /// As the span overload, one expert at a time, so a loader holds one expert's bytes on the host rather than
    /// the layer's: <paramref name="readExpert"/>(e, weight [N, K/2], weight_scale [N, K/16]) fills the two spans
    /// with expert e's ModelOpt bytes; they are shuffled into the kernel's layout and uploaded before the next call.
    /// </summary>
    public static Nvfp4MoeMethod FromPrequantized(LayerContext ctx, int experts, int n, int k, DType activation,
        ReadOnlySpan<float> globalScales, Nvfp4ExpertReader readExpert, string nvfp4Backend = QuantConfig.DefaultNvfp4Backend)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(readExpert);
        QuantConfig.CheckNvfp4Backend(nvfp4Backend, nameof(nvfp4Backend));
        Check(ctx, experts, n, k);
        CheckPrequantizedK(k);
        if (!activation.IsHalfPrecisionFloat()) throw new ArgumentException($"activation must be BF16 or F16, got {activation}", nameof(activation));
        if (globalScales.Length != experts)
            throw new ArgumentException($"{nameof(globalScales)} holds {globalScales.Length} values, expected {experts}", nameof(globalScales));
        for (int i = 0; i < experts; i++)
            if (!float.IsFinite(globalScales[i]) || globalScales[i] <= 0)
                throw new ArgumentException($"{nameof(globalScales)}[{i}] = {globalScales[i]} must be finite and > 0", nameof(globalScales));
        int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k), bs = Nvfp4GroupGemm.BlockSize;
        var packed = new byte[(long)n * k / 2];
        var scales = new byte[(long)n * k / bs];
        var q = new byte[(long)np * kp / 2];
        var s = new byte[(long)np * kp / bs];
        var memory = new OwnedMemory();
        try
        {
            var stored = Allocate(ctx, memory, experts, n, k);
            for (int e = 0; e < experts; e++)
            {
                readExpert(e, packed, scales);
                Array.Clear(q);
                Array.Clear(s);
                for (int r = 0; r < n; r++)
                    for (int c = 0; c < k; c++)
                    {
                        long src = (long)r * k + c;
                        int code = (packed[src / 2] >> (4 * (c & 1))) & 0xF;
                        var (pos, hi) = Nvfp4GroupGemm.Position(c);
                        q[(long)r * (kp / 2) + pos] |= (byte)(code << (4 * hi));
                        if (c % bs == 0) s[Nvfp4GroupGemm.ScaleIndex(np, r, c)] = scales[src / bs];
                    }
                ctx.Device.CopyToDevice(stored.Q.Ptr + (long)e * q.Length, q);
                ctx.Device.CopyToDevice(stored.BlockScales.Ptr + (long)e * s.Length, s);
            }
            stored.Global.CopyFrom(globalScales);
            return new Nvfp4MoeMethod(ctx, experts, n, k, activation, memory, stored);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    private static void CheckPrequantizedK(int k)
    {
        if (k % Nvfp4GroupGemm.BlockSize != 0) throw new ArgumentOutOfRangeException(nameof(k), k, "pre-quantized nvfp4 weights need K to be a multiple of 16");
    }

    private static void Check(LayerContext ctx, int e, int n, int k)
    {
        if (e < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(e), $"E={e}, N={n}, K={k} must be >= 1");
        if (k % 8 != 0) throw new ArgumentOutOfRangeException(nameof(k), k, "nvfp4 needs K to be a multiple of 8 (16-byte activation loads)");
        QuantConfig.EnsureSupported(QuantMode.Nvfp4, ctx.Device.Info);
    }

    private static (Tensor Q, Tensor BlockScales, Tensor Global) Allocate(LayerContext ctx, OwnedMemory memory, int e, int n, int k)
    {
        int np = Fp8Quant.Pad128(n), kp = Nvfp4GroupGemm.PadK(k);
        return (
            memory.Allocate(ctx.Device, (long)e * np * kp / 2, "nvfp4 weights", DType.Fp4E2M1, e, np, kp),
            memory.Allocate(ctx.Device, (long)e * np * kp / Nvfp4GroupGemm.BlockSize, "nvfp4 block scales",
                DType.Fp8E4M3, e, kp / Nvfp4GroupGemm.KAlign, np, 4),
            memory.Allocate(ctx.Device, 4L * e, "nvfp4 global scales", DType.F32, e));
    }

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckProblem(Activation, stream, problem);
        _gemm.Run(stream, problem, _q, _s, _g);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights(int expert)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckExpert(expert);
        // Only this expert's bytes, block scales and global scale are downloaded.
        var q = _q.SliceRows(expert, 1).ToArray<byte>();
        var s = _s.SliceRows(expert, 1).ToArray<byte>();
        var g = _g.SliceRows(expert, 1).ToArray<float>();
        return Nvfp4GroupGemm.HostDequantize(q, s, g[0], N, K);
    }

    /// <summary>The stored tensors (shuffled q, block scales, global scales), exposed for checks.</summary>
    public (Tensor Q, Tensor BlockScales, Tensor Global) Stored => (_q, _s, _g);

    /// <summary>Frees the quantized weights, scales and workspace.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.Dispose();
    }
}
