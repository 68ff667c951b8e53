using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Samples.RealModel;

/// <summary>
/// The application's own causal self-attention for a prefill step, run as a split point between the engine's qkv_proj
/// and o_proj: reads rows [0, n) of [q | k | v] (bf16), applies Qwen3's q/k norm when the layer has one and the
/// model's RoPE at positions 0..n-1, attends each token to itself and the tokens before it (GQA: query head h reads
/// key/value head h / (heads / kv_heads)), softmax in fp32, and writes rows [0, n) of [heads × head_dim] (bf16).
/// Two implementations, like the engine's kernel families: cuda/attention.cu compiled by the engine's compiler, and
/// managed code on the reference backend.
/// </summary>
public abstract class CausalAttention : IDisposable
{
    private readonly DeviceBuffer _cos, _sin, _workspace;

    private protected CausalAttention(Device device, AttentionConfig config, int maxTokens)
    {
        Config = config;
        MaxTokens = maxTokens;
        Device = device;
        var table = new RotaryTable(maxTokens, config.HeadDim, config.RopeTheta);
        _cos = device.AllocateTensor(DType.F32, new long[] { maxTokens, table.Pairs }, out var cos, "rope.cos");
        try
        {
            _sin = device.AllocateTensor(DType.F32, new long[] { maxTokens, table.Pairs }, out var sin, "rope.sin");
            _workspace = device.AllocateTensor(DType.F32, new long[] { maxTokens, (long)(config.Heads + config.KvHeads) * config.HeadDim },
                out var workspace, "attention.qk");
            cos.CopyFrom<float>(table.Cos);
            sin.CopyFrom<float>(table.Sin);
            CosTable = cos;
            SinTable = sin;
            RotatedQk = workspace;
        }
        catch
        {
            _workspace?.Dispose();
            _sin?.Dispose();
            _cos.Dispose();
            throw;
        }
    }

    /// <summary>The implementation for <paramref name="device"/>: cuda/attention.cu on a GPU, managed code on the reference backend.</summary>
    public static CausalAttention Create(Device device, AttentionConfig config, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        if (config.Heads % config.KvHeads != 0)
            throw new ArgumentException($"{config.KvHeads} key/value heads do not divide {config.Heads} query heads", nameof(config));
        return device switch
        {
            CudaDevice cuda => new CausalAttentionCuda(cuda, config, maxTokens),
            ReferenceDevice => new CausalAttentionReference(device, config, maxTokens),
            _ => throw new ArgumentException($"no attention for backend {device.Kind}", nameof(device)),
        };
    }

    /// <summary>Heads, head size and RoPE.</summary>
    public AttentionConfig Config { get; }
    /// <summary>The most tokens (and so positions) a step may have.</summary>
    public int MaxTokens { get; }
    /// <summary>The device it runs on.</summary>
    public Device Device { get; }
    /// <summary>cos(position · inverse frequency) [MaxTokens, head_dim / 2] fp32.</summary>
    protected Tensor CosTable { get; }
    /// <summary>sin(position · inverse frequency) [MaxTokens, head_dim / 2] fp32.</summary>
    protected Tensor SinTable { get; }
    /// <summary>Workspace [MaxTokens, (heads + kv_heads) × head_dim] fp32: q and k after norm and RoPE.</summary>
    protected Tensor RotatedQk { get; }

    /// <summary>
    /// Enqueues attention over rows [0, <paramref name="n"/>) of <paramref name="qkv"/> [>= n, (heads + 2 kv_heads) × head_dim]
    /// into <paramref name="output"/> [>= n, heads × head_dim] on <paramref name="stream"/>, both bf16; <paramref name="norms"/>
    /// are the layer's q_norm / k_norm (required exactly when the model has them). Never captured: it runs every step.
    /// </summary>
    public void Run(ComputeStream stream, int n, Tensor qkv, Tensor output, QkNormWeights? norms)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var c = Config;
        if (n < 0 || n > MaxTokens) throw new ArgumentOutOfRangeException(nameof(n), n, $"token count must be in [0, {MaxTokens}]");
        long width = (long)(c.Heads + 2 * c.KvHeads) * c.HeadDim;
        qkv.Require(nameof(qkv), DType.BF16).RequireRank(nameof(qkv), 2).RequireDevice(nameof(qkv), Device);
        output.Require(nameof(output), DType.BF16).RequireRank(nameof(output), 2).RequireDevice(nameof(output), Device);
        if (qkv.Dim(1) != width || qkv.Rows < n)
            throw new ArgumentException($"qkv must be [>= {n}, {width}], got {qkv}", nameof(qkv));
        if (output.Dim(1) != (long)c.Heads * c.HeadDim || output.Rows < n)
            throw new ArgumentException($"output must be [>= {n}, {c.Heads * c.HeadDim}], got {output}", nameof(output));
        if (c.QkNorm != norms is not null)
            throw new ArgumentException(c.QkNorm ? "the model has q_norm / k_norm; pass the layer's weights" : "the model has no q_norm / k_norm", nameof(norms));
        if (norms is not null && (norms.Q.ElementCount != c.HeadDim || norms.K.ElementCount != c.HeadDim))
            throw new ArgumentException($"q_norm / k_norm must have head_dim = {c.HeadDim} weights", nameof(norms));
        if (n == 0) return;
        RunCore(stream, n, qkv, output, norms);
    }

    /// <summary>The backend's attention, called once the arguments are checked.</summary>
    protected abstract void RunCore(ComputeStream stream, int n, Tensor qkv, Tensor output, QkNormWeights? norms);

    /// <summary>Frees the tables and the workspace.</summary>
    public void Dispose()
    {
        _workspace.Dispose();
        _sin.Dispose();
        _cos.Dispose();
        GC.SuppressFinalize(this);
    }
}
