using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Layers.Quantization;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models;

/// <summary>
/// A preset built into an engine: its layers in order, the buffers a caller fills and reads, and the
/// figures the benchmark's floor needs.
/// </summary>
public sealed class BuiltModel : EngineModel
{
    internal BuiltModel(PrefillEngine engine, ModelPreset preset, QuantConfig quant, ModelBuffers buffers, IReadOnlyList<Layer> layers)
        : base(engine, buffers)
    {
        Preset = preset;
        Quant = quant;
        Layers = layers;
    }

    /// <summary>The preset the model was built from.</summary>
    public ModelPreset Preset { get; }
    /// <summary>The quant config its layers were built with.</summary>
    public QuantConfig Quant { get; }

    /// <summary>The model's layers in execution order (owned by the engine).</summary>
    public IReadOnlyList<Layer> Layers { get; }

    /// <summary>Bytes every step reads whatever the routing: all dense weights and norms.</summary>
    public long DenseWeightBytes => Layers.Where(l => l is not Moe).Sum(l => l.WeightBytes);

    /// <summary>Bytes of one expert (gate_up + down) summed over the MoE layers; times the experts hit per
    /// layer gives the expert bytes a step reads.</summary>
    public long ExpertBytesPerExpertAllLayers =>
        Layers.OfType<Moe>().Sum(m => m.GateUp.WeightBytesPerExpert + m.Down.WeightBytesPerExpert);

    /// <summary>Bytes the MoE layers read whatever the routing: routers, selection biases and shared experts.</summary>
    public long MoeFixedWeightBytes => Layers.OfType<Moe>().Sum(m => m.FixedWeightBytes);

    /// <summary>Weight bytes read by a step that hits <paramref name="expertsHitPerLayer"/> experts in each MoE layer:
    /// every dense weight, every router and shared expert, and the experts hit.</summary>
    public double StepWeightBytes(double expertsHitPerLayer) =>
        DenseWeightBytes + MoeFixedWeightBytes + expertsHitPerLayer * ExpertBytesPerExpertAllLayers;

    /// <summary>
    /// Weight bytes the last step read, from each MoE layer's expert counts of that step (synchronous): what the
    /// floor of a measured step should use, since the experts a real routing hits differ from the uniform expectation.
    /// Also returns the mean experts hit per MoE layer.
    /// </summary>
    public (double Bytes, double MeanExpertsHit) LastStepWeightBytes()
    {
        var moes = Layers.OfType<Moe>().ToList();
        double bytes = DenseWeightBytes + MoeFixedWeightBytes;
        long hits = 0;
        foreach (var m in moes)
        {
            int hit = m.ExpertsHit();
            hits += hit;
            bytes += (double)hit * (m.GateUp.WeightBytesPerExpert + m.Down.WeightBytesPerExpert);
        }
        return (bytes, moes.Count == 0 ? 0 : (double)hits / moes.Count);
    }

    /// <summary>Fills the residual stream and the attention stand-in with random values (never zeros).</summary>
    public void RandomizeInputs(uint seed)
    {
        var fill = RandomFill.Create(Engine.Device);
        var s = Engine.Device.DefaultStream;
        fill.Uniform(s, Input, seed, 1f);
        fill.Uniform(s, AttentionOut, seed + 1, 1f);
        s.Synchronize();
    }
}

/// <summary>
/// Builds a preset's stack into a <see cref="PrefillEngine"/> with random weights generated on the
/// device, quantized per <see cref="QuantConfig"/>: Linear layers get the dense mode, MoE experts the
/// MoE mode; norms, the router gate and the SwiGLU stay in the activation type.
/// Wiring (one set of buffers reused by every decoder layer, so activation memory does not grow with depth):
/// <code>
/// layer 0:  input_layernorm(resid) -> normed                       (later layers: fused add of the previous MLP output)
///           qkv_proj(normed) -> qkv        [attention would turn qkv into attn; no preset has it]
///           o_proj(attn) -> o
///           post_attention_layernorm(o, residual += o) -> normed
///           MoE(normed) -> mlp_out        |  gate_up_proj(normed) -> gu, act_fn(gu) -> act, down_proj(act) -> mlp_out
/// </code>
/// </summary>
public static class ModelFactory
{
    /// <summary>Epsilon of every RMSNorm a preset builds.</summary>
    public const float RmsEps = 1e-6f;

    /// <summary>Builds <paramref name="preset"/> into <paramref name="engine"/> with random weights from <paramref name="seed"/>, quantized per <paramref name="quant"/>, activations in <paramref name="activation"/>; <paramref name="progress"/> gets (layers done, total, layer name) as each is built.</summary>
    public static BuiltModel Build(PrefillEngine engine, ModelPreset preset, QuantConfig quant, uint seed = 1,
        DType activation = DType.BF16, IProgress<(int Done, int Total, string Layer)>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(preset);
        ArgumentNullException.ThrowIfNull(quant);
        DTypes.RequireDefined(activation, nameof(activation));
        if (engine.MaxTokens > preset.MaxTokens)
            throw new ArgumentException($"engine MaxTokens={engine.MaxTokens} is above preset '{preset.Name}' max tokens {preset.MaxTokens}", nameof(engine));
        if (!preset.IsMoe && quant.MoeMode != QuantMode.None && quant.DenseMode == QuantMode.None)
            throw new ArgumentException($"quantization {quant.Label} quantizes MoE layers only and preset '{preset.Name}' has none", nameof(quant));

        // A build that fails part-way (a quant mode a layer refuses, a bad shape, no memory) disposes and
        // detaches what it built, so the engine and its pool are as they were before the call.
        var mark = engine.Mark();
        try
        {
            return BuildInto(engine, preset, quant, seed, activation, progress);
        }
        catch
        {
            engine.RollbackTo(mark);
            throw;
        }
    }

    private static BuiltModel BuildInto(PrefillEngine engine, ModelPreset preset, QuantConfig quant, uint seed,
        DType activation, IProgress<(int Done, int Total, string Layer)>? progress)
    {
        var ctx = engine.Context;
        int h = preset.Hidden;
        var resid = engine.Activation("resid", activation, h);
        var normed = engine.Activation("normed", activation, h);
        var qkv = engine.Activation("qkv", activation, preset.QkvOut);
        var attn = engine.Activation("attn", activation, preset.AttentionOut);
        var o = engine.Activation("o", activation, h);
        var mlpOut = engine.Activation("mlp_out", activation, h);
        // Dense layers of different widths share one pair of buffers sized for the widest, each seen through a
        // view of its own width (a [rows, 2F] view of a [rows, 2Fmax] buffer is just its first rows*2F elements).
        Tensor guAll = default, actAll = default;
        if (preset.Intermediate > 0)
        {
            guAll = engine.Activation("gate_up", activation, 2L * preset.Intermediate);
            actAll = engine.Activation("act", activation, preset.Intermediate);
        }
        float eps = (float)preset.Model.RmsNormEps;

        var plan = preset.Plan();
        var layers = new List<Layer>(plan.Count);
        uint s = seed * 7919u;
        for (int i = 0; i < plan.Count; i++)
        {
            var spec = plan[i];
            progress?.Report((i, plan.Count, spec.Name));
            s += 101;
            bool postAttention = spec.Name.EndsWith(".post_attention_layernorm", StringComparison.Ordinal);
            var (gu, act) = FfnViews(spec, guAll, actAll);
            Layer layer = spec.Kind switch
            {
                LayerSpecKind.RmsNorm when !spec.FusedResidual => RandomNorm(ctx, spec.Name, resid, normed, null, s, eps),
                LayerSpecKind.RmsNorm when postAttention => RandomNorm(ctx, spec.Name, o, normed, resid, s, eps),
                LayerSpecKind.RmsNorm => RandomNorm(ctx, spec.Name, mlpOut, normed, resid, s, eps),
                LayerSpecKind.Linear => DenseLinear(ctx, spec, quant, s, Wiring(spec, normed, qkv, attn, o, gu, act, mlpOut)),
                LayerSpecKind.SwiGlu => new SwiGlu(ctx, spec.Name, gu, act),
                LayerSpecKind.Moe => new Moe(ctx, spec.Name, MoeOptionsFor(preset.Model, LayerIndex(spec.Name), quant, s), normed, mlpOut),
                _ => throw new InvalidOperationException($"unknown layer kind {spec.Kind}"),
            };
            try
            {
                engine.Add(layer);
            }
            catch
            {
                layer.Dispose();
                throw;
            }
            layers.Add(layer);
        }
        progress?.Report((plan.Count, plan.Count, "done"));
        var model = new BuiltModel(engine, preset, quant, new ModelBuffers(resid, mlpOut, qkv, attn), layers);
        model.RandomizeInputs(seed);
        return model;
    }

    /// <summary>The dense FFN buffers at the width of <paramref name="spec"/>'s layer (empty for other layers).</summary>
    internal static (Tensor GateUp, Tensor Act) FfnViews(LayerSpec spec, Tensor guAll, Tensor actAll)
    {
        int f = spec.Kind switch
        {
            LayerSpecKind.Linear when spec.SwiGluOut > 0 => spec.SwiGluOut,
            LayerSpecKind.SwiGlu => spec.Out,
            LayerSpecKind.Linear when spec.Name.EndsWith(".down_proj", StringComparison.Ordinal) => spec.In,
            _ => 0,
        };
        if (f == 0 || guAll.IsEmpty) return (guAll, actAll);
        return (new Tensor(guAll.Device, guAll.Ptr, guAll.DType, guAll.Rows, 2L * f),
                new Tensor(actAll.Device, actAll.Ptr, actAll.DType, actAll.Rows, f));
    }

    /// <summary>The decoder layer index of a plan name ("layers.{i}.…").</summary>
    internal static int LayerIndex(string specName) => int.Parse(specName.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The MoE options of decoder layer <paramref name="layer"/> of <paramref name="model"/>: its experts, shared
    /// experts and routing rule (ERNIE-4.5: fp32 router, selection bias, moe_norm_min clamp, weights in the
    /// activation type; Qwen3-MoE: renormalised only with norm_topk_prob), experts quantized per <paramref name="quant"/>.
    /// </summary>
    public static MoeOptions MoeOptionsFor(ModelDescription model, int layer, QuantConfig quant, uint seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(quant);
        var m = model.DecoderLayers[layer].Moe
            ?? throw new ArgumentException($"layer {layer} of {model.Name} is dense, not MoE", nameof(layer));
        bool ernie = m.Routing == MoeRouting.ErnieBiasedSoftmax;
        return new MoeOptions(m.Experts, m.TopK, model.Hidden, m.ExpertFfn,
            Renormalize: ernie || m.NormTopKProb, SharedFfn: m.SharedExpertFfn, Quant: quant.MoeMode, GroupSize: quant.MoeLayerGroupSize,
            Seed: seed, Nvfp4Backend: quant.Nvfp4Backend, RouterFp32: m.RouterFp32, SelectionBias: m.SelectionBias, NormMin: ernie ? m.NormMin : 0,
            WeightsInActivationType: ernie);
    }

    private static (Tensor In, Tensor Out) Wiring(LayerSpec spec, Tensor normed, Tensor qkv, Tensor attn, Tensor o, Tensor gu, Tensor act, Tensor mlpOut)
    {
        if (spec.Name.EndsWith(".qkv_proj", StringComparison.Ordinal)) return (normed, qkv);
        if (spec.Name.EndsWith(".o_proj", StringComparison.Ordinal)) return (attn, o);
        if (spec.Name.EndsWith(".gate_up_proj", StringComparison.Ordinal)) return (normed, gu);
        if (spec.Name.EndsWith(".down_proj", StringComparison.Ordinal)) return (act, mlpOut);
        throw new InvalidOperationException($"no wiring for linear '{spec.Name}'");
    }

    /// <summary>
    /// An RMSNorm over <paramref name="input"/>'s width (in its type, with <paramref name="eps"/>) whose weight
    /// is random around 1 (spread 0.25): what every preset's norms and the benchmarks' norms are.
    /// </summary>
    public static RmsNorm RandomNorm(LayerContext ctx, string name, Tensor input, Tensor output, Tensor? residual, uint seed,
        float eps = RmsEps)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        input.RequireRank($"{name}.input", 2);
        var norm = new RmsNorm(ctx, name, (int)Math.Min(input.Dim(1), int.MaxValue), input.DType, eps, input, output, residual);
        norm.RandomizeWeight(seed, 0.25f);
        return norm;
    }

    /// <summary>
    /// A Linear from <paramref name="input"/>'s width to <paramref name="output"/>'s in <paramref name="mode"/>,
    /// with random weights scaled 1/sqrt(in): that keeps outputs O(1), so no later layer of a stack sees infinities.
    /// </summary>
    public static Linear RandomLinear(LayerContext ctx, string name, Tensor input, Tensor output, QuantMode mode, GroupSize groupSize, uint seed)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        input.RequireRank($"{name}.input", 2);
        output.RequireRank($"{name}.output", 2);
        if (input.Dim(1) > int.MaxValue || output.Dim(1) > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(input), $"linear '{name}': widths of {input} and {output} must be at most {int.MaxValue}");
        int inWidth = (int)input.Dim(1), outWidth = (int)output.Dim(1);
        var weights = LinearWeights.Random(outWidth, inWidth, seed, 1f / MathF.Sqrt(inWidth));
        return Linear.Create(ctx, name, input, output, mode, groupSize, weights);
    }

    private static Linear DenseLinear(LayerContext ctx, LayerSpec spec, QuantConfig quant, uint seed, (Tensor In, Tensor Out) io) =>
        RandomLinear(ctx, spec.Name, io.In, io.Out, quant.DenseMode, quant.DenseLayerGroupSize, seed);
}
