using GraphEngine.Kernels;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>
/// block_wise_fp8 Linear: weights fp8 e4m3 with one fp32 scale per 128x128 block, activations
/// quantized inside every forward to e4m3 with one scale per token per 128 channels, and the fp8 GEMM
/// that applies both scales per K block. N and K are zero-padded to multiples of 128 at quantization
/// (padded weight rows and columns are 0, so they add nothing). No bias: FastDeploy's block-wise fp8
/// linear layers have none. Forward is capturable: the activation workspace is rented once, at
/// construction, for <see cref="LayerContext.MaxTokens"/> rows.
/// </summary>
public sealed class BlockWiseFp8LinearMethod : ILinearMethod
{
    private readonly OwnedMemory _memory;
    private readonly BlockFp8Runner _runner;
    private readonly Tensor _w, _ws;
    private readonly int _maxRows;
    private bool _disposed;

    private BlockWiseFp8LinearMethod(LayerContext ctx, int n, int k, DType activation, OwnedMemory memory, (Tensor Weights, Tensor Scales) stored)
    {
        InFeatures = k;
        OutFeatures = n;
        Activation = activation;
        _maxRows = ctx.MaxTokens;
        _memory = memory;
        (_w, _ws) = stored;
        _runner = new BlockFp8Runner(ctx, memory, ctx.MaxTokens, k, activation, "block_fp8");
    }

    /// <inheritdoc/>
    public QuantMode Mode => QuantMode.BlockWiseFp8;
    /// <inheritdoc/>
    public string Label => "block_wise_fp8/128x128";
    /// <inheritdoc/>
    public int InFeatures { get; }
    /// <inheritdoc/>
    public int OutFeatures { get; }
    /// <summary>The activation type the input and output have (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <inheritdoc/>
    public long WeightBytes => _w.ByteCount + _ws.ByteCount;

    /// <summary>Quantizes bf16/fp16 device weights [N, K] on the device (128x128 block scales, amax / 448).</summary>
    public static BlockWiseFp8LinearMethod Quantize(LayerContext ctx, Tensor weights)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        weights.RequireRank(nameof(weights), 2).RequireDevice(nameof(weights), ctx.Device);
        if (!weights.DType.IsHalfPrecisionFloat())
            throw new ArgumentException($"{nameof(weights)} must be BF16 or F16 [N, K], got {weights}", nameof(weights));
        QuantConfig.EnsureSupported(QuantMode.BlockWiseFp8, ctx.Device.Info);
        int n = checked((int)weights.Dim(0)), k = checked((int)weights.Dim(1));
        if (n < 1 || k < 1) throw new ArgumentException($"{nameof(weights)} must be non-empty, got {weights}", nameof(weights));
        var memory = new OwnedMemory();
        try
        {
            var stored = Allocate(ctx, memory, n, k);
            Fp8Quant.Create(ctx.Device).QuantizeWeightsBlock128(ctx.LoadStream, weights, stored.Weights, stored.Scales);
            ctx.LoadStream.Synchronize();
            return new BlockWiseFp8LinearMethod(ctx, n, k, weights.DType, memory, stored);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads a checkpoint's pre-quantized weights: e4m3 bytes [N, K] and fp32 dequantization scales
    /// [ceil(N/128), ceil(K/128)] (DeepSeek / FastDeploy "weight_scale_inv": w = q * scale).
    /// </summary>
    public static BlockWiseFp8LinearMethod FromPrequantized(LayerContext ctx, ReadOnlySpan<byte> weightsE4M3, ReadOnlySpan<float> blockScales,
        int n, int k, DType activation)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        if (n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(n), $"N={n}, K={k} must be >= 1");
        if (!activation.IsHalfPrecisionFloat()) throw new ArgumentException($"activation must be BF16 or F16, got {activation}", nameof(activation));
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), nb = np / Fp8Quant.Block, kb = kp / Fp8Quant.Block;
        if (weightsE4M3.Length != (long)n * k)
            throw new ArgumentException($"{nameof(weightsE4M3)} holds {weightsE4M3.Length} bytes, expected N*K = {n}*{k}", nameof(weightsE4M3));
        if (blockScales.Length != nb * kb)
            throw new ArgumentException($"{nameof(blockScales)} holds {blockScales.Length} values, expected [{nb}, {kb}]", nameof(blockScales));
        for (int i = 0; i < blockScales.Length; i++)
            if (!float.IsFinite(blockScales[i]) || blockScales[i] < 0)
                throw new ArgumentException($"{nameof(blockScales)}[{i / kb}, {i % kb}] = {blockScales[i]} must be finite and >= 0", nameof(blockScales));
        QuantConfig.EnsureSupported(QuantMode.BlockWiseFp8, ctx.Device.Info);
        var padded = new byte[(long)np * kp];
        BlockFp8Runner.PadRows(weightsE4M3, n, k, padded);
        var memory = new OwnedMemory();
        try
        {
            var stored = Allocate(ctx, memory, n, k);
            stored.Weights.CopyFrom<byte>(padded);
            stored.Scales.CopyFrom(blockScales);
            return new BlockWiseFp8LinearMethod(ctx, n, k, activation, memory, stored);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    private static (Tensor Weights, Tensor Scales) Allocate(LayerContext ctx, OwnedMemory memory, int n, int k)
    {
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), nb = np / Fp8Quant.Block, kb = kp / Fp8Quant.Block;
        return (
            memory.Allocate(ctx.Device, (long)np * kp, "block_fp8 weights", DType.Fp8E4M3, np, kp),
            memory.Allocate(ctx.Device, (long)nb * kb * 4, "block_fp8 weight scales", DType.F32, nb, kb));
    }

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, Tensor input, Tensor output, int paddedRows, DevicePtr tokenCount)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckForward(Activation, stream, input, output, paddedRows, _maxRows);
        _runner.Run(stream, input, _w, _ws, output, paddedRows, tokenCount);
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return BlockFp8Runner.Dequantize(_w.ToArray<byte>(), _ws.ToArray<float>(), OutFeatures, InFeatures, (int)_w.Dim(1));
    }

    /// <summary>Activation quantization workspace, exposed for checks: e4m3 [MaxTokens, Kp] and scales [MaxTokens, Kp/128].</summary>
    public (Tensor Q, Tensor Scales) ActivationWorkspace => _runner.Workspace;

    /// <summary>The stored e4m3 weights [Np, Kp] and block scales, exposed for checks.</summary>
    public (Tensor Weights, Tensor Scales) Stored => (_w, _ws);

    /// <summary>Frees the weights, scales and GEMM resources.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.Dispose();
    }
}
