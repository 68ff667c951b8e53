using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Samples.RealModel;

/// <summary>
/// A checkpoint's whole forward for a prefill step of n tokens, the way an application embeds the engine:
/// <list type="number">
/// <item>embed_tokens: the application gathers the tokens' rows into the residual stream (<see cref="EmbeddingLookup"/>);</item>
/// <item>per decoder layer the engine's layers as <see cref="ModelLoader"/> builds them (input RMSNorm, fused QKV, o_proj,
/// post-attention RMSNorm, MoE or dense MLP), with the application's <see cref="CausalAttention"/> registered after each
/// qkv_proj with <see cref="PrefillEngine.AddEager(string, Action{ComputeStream, int}, Layer)"/>: a split point, so in
/// Segment granularity the layers from one attention to the next are one graph per size;</item>
/// <item>the final RMSNorm (model.norm), an engine layer the application adds at the end: it adds the last MLP's output
/// into the residual stream and normalizes, as transformers' model.norm(hidden_states + mlp) does.</item>
/// </list>
/// The result is transformers' <c>model.model(input_ids).last_hidden_state</c>.
/// </summary>
public sealed class DecoderForward : IDisposable
{
    private readonly PrefillEngine _engine;
    private readonly LoadedModel _model;
    private readonly EmbeddingLookup _embedding;
    private readonly CausalAttention _attention;
    private readonly IReadOnlyList<QkNormWeights> _norms;
    private readonly Tensor _final;

    private DecoderForward(ForwardMode mode, PrefillEngine engine, LoadedModel model, EmbeddingLookup embedding, CausalAttention attention,
        IReadOnlyList<QkNormWeights> norms, Tensor final, CaptureReport? capture)
    {
        Mode = mode;
        _engine = engine;
        _model = model;
        _embedding = embedding;
        _attention = attention;
        _norms = norms;
        _final = final;
        Capture = capture;
    }

    /// <summary>How this forward runs the engine's layers.</summary>
    public ForwardMode Mode { get; }
    /// <summary>The engine, for its listing.</summary>
    public PrefillEngine Engine => _engine;
    /// <summary>The checkpoint as config.json describes it.</summary>
    public ModelDescription Description => _model.Description;
    /// <summary>Heads and RoPE of the attention.</summary>
    public AttentionConfig Attention => _attention.Config;
    /// <summary>What capture did (null in <see cref="ForwardMode.Eager"/>).</summary>
    public CaptureReport? Capture { get; }

    /// <summary>
    /// Loads the checkpoint in <paramref name="checkpointDir"/> into a new engine on <paramref name="device"/> for steps of up
    /// to <paramref name="maxTokens"/> tokens, adds the embedding, attention and final norm, and captures graphs of
    /// <paramref name="sizes"/> unless <paramref name="mode"/> is <see cref="ForwardMode.Eager"/>.
    /// </summary>
    /// <exception cref="CheckpointException">The checkpoint or its config.json cannot be used; nothing is left behind.</exception>
    public static DecoderForward Build(Device device, string checkpointDir, ForwardMode mode, int maxTokens, IReadOnlyList<int> sizes,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(sizes);
        var options = new BlockWiseGraphOptions
        {
            Sizes = sizes,
            Granularity = mode == ForwardMode.Layer ? Granularity.Layer : Granularity.Segment,
        };
        var engine = new PrefillEngine(device, options, maxTokens, logger);
        LoadedModel? model = null;
        EmbeddingLookup? embedding = null;
        CausalAttention? attention = null;
        var norms = new List<QkNormWeights>();
        try
        {
            var loaded = model = ModelLoader.Load(engine, checkpointDir, QuantConfig.Unquantized);
            var d = loaded.Description;
            using var checkpoint = CheckpointDirectory.Open(checkpointDir);
            var attn = attention = CausalAttention.Create(device, AttentionConfig.From(d, checkpoint.ConfigJson, checkpoint.ConfigPath), maxTokens);
            embedding = EmbeddingLookup.Create(device, checkpoint.Get(TensorNames.EmbedTokens), maxTokens);
            for (int i = 0; i < d.Layers; i++)
            {
                QkNormWeights? qk = null;
                if (d.QkNorm)
                {
                    string p = $"{TensorNames.Layer(i)}.self_attn";
                    qk = new QkNormWeights(device, CheckpointFloats.Read(checkpoint.Get($"{p}.q_norm.weight")),
                        CheckpointFloats.Read(checkpoint.Get($"{p}.k_norm.weight")));
                    norms.Add(qk);
                }
                engine.AddEager($"layers.{i}.self_attn.attention", (stream, n) => attn.Run(stream, n, loaded.Qkv, loaded.AttentionOut, qk),
                    after: loaded.Layer(i, LayerRole.QkvProj).Layer);
            }
            var final = engine.Activation("norm.out", DType.BF16, d.Hidden);
            var norm = new RmsNorm(engine.Context, "norm", d.Hidden, DType.BF16, (float)d.RmsNormEps, loaded.Output, final, loaded.Input);
            try
            {
                norm.LoadWeight(CheckpointFloats.Read(checkpoint.Get(TensorNames.FinalNorm)));
            }
            catch
            {
                norm.Dispose();
                throw;
            }
            engine.Add(norm);
            var capture = mode == ForwardMode.Eager ? null : engine.Capture();
            return new DecoderForward(mode, engine, loaded, embedding, attn, norms, final, capture);
        }
        catch
        {
            engine.Dispose();
            model?.Dispose();
            foreach (var n in norms) n.Dispose();
            embedding?.Dispose();
            attention?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// One prefill step over <paramref name="tokenIds"/> (positions 0..n-1): the final hidden states, rows [0, n) of
    /// [n, hidden] as bf16 bits. The output is poisoned with NaN first, so a row the step did not write shows.
    /// </summary>
    public ushort[] Run(ReadOnlySpan<int> tokenIds)
    {
        int n = tokenIds.Length;
        if (n < 1 || n > _engine.MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(tokenIds), n, $"a step has 1 to {_engine.MaxTokens} tokens");
        var stream = _engine.Stream;
        _embedding.Run(stream, tokenIds, _model.Input);
        _final.Poison(stream);
        if (Mode == ForwardMode.Eager)
        {
            // The graphs replay each layer at the padded size; running the same kernels at that size keeps the shapes
            // (and so cuBLASLt's algorithm choice) the same, which is what makes eager and graphs comparable bit for bit.
            _engine.WriteTokenCount(n);
            int padded = _engine.PaddedSize(n) ?? n;
            foreach (var layer in _engine.Layers) layer.Forward(stream, layer is EagerStep ? n : padded);
        }
        else
        {
            _engine.Prefill(n);
        }
        stream.Synchronize();
        return _final.SliceRows(0, n).ToArray<ushort>();
    }

    /// <summary>What every MoE layer's router did in the last <see cref="Run"/> of <paramref name="n"/> tokens.</summary>
    public IReadOnlyList<RouterChoice> Routing(int n)
    {
        var result = new List<RouterChoice>();
        foreach (var l in _model.Layers)
        {
            if (l.Layer is not Moe moe) continue;
            int e = moe.Options.Experts, k = moe.Options.TopK;
            var chosen = moe.TopIds.SliceRows(0, n).DownloadInts();
            var logits = moe.Logits.SliceRows(0, n).DownloadFloats();
            float[]? bias = moe.SelectionBiasWeight.IsEmpty ? null : moe.SelectionBiasWeight.DownloadFloats();
            var scores = new double[(long)n * e];
            for (int t = 0; t < n; t++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < e; j++) max = Math.Max(max, logits[t * e + j]);
                for (int j = 0; j < e; j++) sum += scores[t * e + j] = Math.Exp(logits[t * e + j] - max);
                for (int j = 0; j < e; j++) scores[t * e + j] = scores[t * e + j] / sum + (bias?[j] ?? 0);
            }
            result.Add(new RouterChoice(l.DecoderLayer, k, e, chosen, scores));
        }
        return result;
    }

    /// <summary>The engine first (it owns the layers), then the model's buffers and the application's own pieces.</summary>
    public void Dispose()
    {
        _engine.Dispose();
        _model.Dispose();
        foreach (var n in _norms) n.Dispose();
        _embedding.Dispose();
        _attention.Dispose();
    }
}
