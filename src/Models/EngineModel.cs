using GraphEngine.Graph;
using GraphEngine.Kernels;

namespace GraphEngine.Models;

/// <summary>
/// The activation buffers a model's layers are wired to, as one value: the residual stream a caller fills,
/// the last layer's output, and the attention pair (qkv_proj's output and o_proj's input).
/// </summary>
internal readonly record struct ModelBuffers(Tensor Input, Tensor Output, Tensor Qkv, Tensor AttentionOut);

/// <summary>
/// A model built into a <see cref="PrefillEngine"/>, from a preset (<see cref="BuiltModel"/>) or a checkpoint
/// (<see cref="Loading.LoadedModel"/>): the engine and the buffers a caller fills and reads. Every decoder layer
/// reuses the same buffers, so activation memory does not grow with depth.
/// </summary>
public abstract class EngineModel
{
    private readonly ModelBuffers _buffers;

    private protected EngineModel(PrefillEngine engine, ModelBuffers buffers)
    {
        Engine = engine;
        _buffers = buffers;
    }

    /// <summary>The engine the model's layers were added to (it owns them).</summary>
    public PrefillEngine Engine { get; }

    /// <summary>[MaxTokens, hidden]: the residual stream; rows [0, n) are the step's input, updated in place.</summary>
    public Tensor Input => _buffers.Input;

    /// <summary>[MaxTokens, hidden]: the last layer's output (the final MLP's, before the residual add).</summary>
    public Tensor Output => _buffers.Output;

    /// <summary>[MaxTokens, (heads + 2 kv_heads) x head_dim]: qkv_proj's output, [q | k | v].</summary>
    public Tensor Qkv => _buffers.Qkv;

    /// <summary>[MaxTokens, heads x head_dim]: what o_proj reads. No preset computes attention; a caller that
    /// does (the application, samples/Embedding) writes it from <see cref="Qkv"/> between qkv_proj and o_proj.</summary>
    public Tensor AttentionOut => _buffers.AttentionOut;

    private protected ModelBuffers Buffers => _buffers;
}
