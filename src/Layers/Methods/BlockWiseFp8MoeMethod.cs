using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers.Methods;

/// <summary>Fills <paramref name="weights"/> [N, K] (e4m3) and <paramref name="blockScales"/> [ceil(N/128), ceil(K/128)] (fp32, w = q · scale) with expert <paramref name="expert"/>'s checkpoint values.</summary>
public delegate void BlockFp8ExpertReader(int expert, byte[] weights, float[] blockScales);

/// <summary>
/// Expert weights a block-wise fp8 checkpoint stores in e4m3 with 128x128 block scales (DeepSeek-V3,
/// Qwen3-*-FP8), run as stored: the engine has no block-fp8 group GEMM, so each expert is the dense
/// block_wise_fp8 GEMM over its slab of the padded token layout, with the expert's device row count as the
/// kernel's token count (slab rows past it are skipped, as padded rows are). Two launches (activation
/// quantization, GEMM) per expert and projection, grids sized for the slab: correct and capturable, but
/// slower than one group GEMM at many experts. Padded layout only; the activation workspace is rented
/// once for one slab and reused expert after expert on the stream.
/// </summary>
public sealed class BlockWiseFp8MoeMethod : IMoeMethod
{
    private readonly OwnedMemory _memory;
    private readonly Tensor _w, _ws;
    private readonly BlockFp8Runner _runner;
    private readonly int _slabRows;
    private bool _disposed;

    private BlockWiseFp8MoeMethod(LayerContext ctx, int experts, int n, int k, DType activation, int slabRows, OwnedMemory memory,
        Tensor w, Tensor ws)
    {
        Experts = experts;
        N = n;
        K = k;
        Activation = activation;
        _slabRows = slabRows;
        _memory = memory;
        (_w, _ws) = (w, ws);
        _runner = new BlockFp8Runner(ctx, memory, slabRows, k, activation, "block_fp8 experts");
    }

    /// <inheritdoc/>
    public QuantMode Mode => QuantMode.BlockWiseFp8;
    /// <inheritdoc/>
    public string Label => "block_wise_fp8/128x128 (per expert)";
    /// <inheritdoc/>
    public int Experts { get; }
    /// <inheritdoc/>
    public int N { get; }
    /// <inheritdoc/>
    public int K { get; }
    /// <summary>The activation type (bf16 or fp16).</summary>
    public DType Activation { get; }
    /// <inheritdoc/>
    public long WeightBytesPerExpert => (_w.ByteCount + _ws.ByteCount) / Experts;
    /// <inheritdoc/>
    public Capturability Capturability => Capturability.Yes;

    /// <summary>
    /// Loads <paramref name="experts"/> experts of [N, K] one at a time through <paramref name="readExpert"/>;
    /// <paramref name="slabRows"/> is the most rows one expert's slab holds (the layer's MaxTokens).
    /// </summary>
    public static BlockWiseFp8MoeMethod FromPrequantized(LayerContext ctx, int experts, int n, int k, DType activation, int slabRows,
        BlockFp8ExpertReader readExpert)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(readExpert);
        if (experts < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(experts), $"E={experts}, N={n}, K={k} must be >= 1");
        if (slabRows < 1) throw new ArgumentOutOfRangeException(nameof(slabRows), slabRows, "must be >= 1");
        if (!activation.IsHalfPrecisionFloat()) throw new ArgumentException($"activation must be BF16 or F16, got {activation}", nameof(activation));
        QuantConfig.EnsureSupported(QuantMode.BlockWiseFp8, ctx.Device.Info);
        int np = Fp8Quant.Pad128(n), kp = Fp8Quant.Pad128(k), nb = np / Fp8Quant.Block, kb = kp / Fp8Quant.Block;
        var q = new byte[(long)n * k];
        var s = new float[nb * kb];
        var padded = new byte[(long)np * kp];
        var memory = new OwnedMemory();
        try
        {
            var w = memory.Allocate(ctx.Device, (long)experts * np * kp, "block_fp8 expert weights", DType.Fp8E4M3, experts, np, kp);
            var ws = memory.Allocate(ctx.Device, 4L * experts * nb * kb, "block_fp8 expert scales", DType.F32, experts, nb, kb);
            for (int e = 0; e < experts; e++)
            {
                readExpert(e, q, s);
                for (int i = 0; i < s.Length; i++)
                    if (!float.IsFinite(s[i]) || s[i] < 0)
                        throw new ArgumentException($"expert {e}: block scale [{i / kb}, {i % kb}] = {s[i]} must be finite and >= 0", nameof(readExpert));
                BlockFp8Runner.PadRows(q, n, k, padded);
                ctx.Device.CopyToDevice(w.Ptr + (long)e * padded.Length, padded);
                ctx.Device.CopyToDevice(ws.Ptr + 4L * e * s.Length, System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.AsSpan()));
            }
            return new BlockWiseFp8MoeMethod(ctx, experts, n, k, activation, slabRows, memory, w, ws);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Forward(ComputeStream stream, GroupGemmProblem problem)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckProblem(Activation, stream, problem);
        if (problem.Layout != TokenLayout.Padded)
            throw new ArgumentException($"{Label} runs the padded token layout only; the problem is {problem.Layout}", nameof(problem));
        int p = problem.RowsBound;
        if (p > _slabRows) throw new ArgumentOutOfRangeException(nameof(problem), p, $"slab rows must be <= {_slabRows}");
        if (p == 0) return;
        var device = stream.Device;
        for (int e = 0; e < Experts; e++)
        {
            var a = new Tensor(device, problem.A.Ptr + Activation.ByteCount((long)e * p * K), Activation, p, K);
            var c = new Tensor(device, problem.C.Ptr + Activation.ByteCount((long)e * p * N), Activation, p, N);
            var rows = problem.Offsets.Ptr + 4L * e;   // expert e's real row count: the kernels' token count
            _runner.Run(stream, a, _w.SliceRows(e, 1).Reshape(_w.Dim(1), _w.Dim(2)),
                _ws.SliceRows(e, 1).Reshape(_ws.Dim(1), _ws.Dim(2)), c, p, rows);
        }
    }

    /// <inheritdoc/>
    public float[] DequantizedWeights(int expert)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        this.CheckExpert(expert);
        return BlockFp8Runner.Dequantize(_w.SliceRows(expert, 1).ToArray<byte>(), _ws.SliceRows(expert, 1).ToArray<float>(), N, K, (int)_w.Dim(2));
    }

    /// <summary>Frees the weights, scales and workspace.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.Dispose();
    }
}
