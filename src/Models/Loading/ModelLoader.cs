using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using GraphEngine.Layers.Quantization;
using GraphEngine.Kernels.Moe;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// Builds a Hugging Face checkpoint directory into an engine: config.json gives the description, every
/// tensor the description names is checked (present, shape) before any upload, q/k/v are fused into one
/// projection and gate/up per expert, the router stays fp32 where the model keeps it so, weights are
/// quantized on the device per the quant config. Anything wrong throws one-line
/// <see cref="CheckpointException"/> and leaves nothing behind: layers are added to the engine only once
/// all are built, and whatever was built or rented is disposed first.
/// </summary>
public static class ModelLoader
{
    /// <summary>Builds the checkpoint in <paramref name="dir"/> into <paramref name="engine"/> with weights quantized per <paramref name="quant"/>, reporting upload <paramref name="progress"/>; the engine then owns the layers and the caller the returned model's buffers.</summary>
    /// <exception cref="CheckpointException">A file, tensor or shape is missing or wrong; nothing is left behind.</exception>
    public static LoadedModel Load(PrefillEngine engine, string dir, QuantConfig quant, IProgress<LoadProgress>? progress = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(quant);
        using var ckpt = CheckpointDirectory.Open(dir);
        var model = ckpt.Describe();
        var pre = CheckpointQuantization.Read(ckpt);
        if (pre is not null && (quant.DenseMode != QuantMode.None || quant.MoeMode != QuantMode.None))
            throw new CheckpointException(pre.File, null,
                $"says the checkpoint is pre-quantized ({pre.Method}), so its weights load as stored; quantization {quant.Label} would " +
                "quantize them a second time: leave the quantization unset (none)");
        if (model.QkvBias || model.OutputBias || model.MlpBias)
            throw new CheckpointException(ckpt.ConfigPath, null, "projection biases are not supported by the loader yet");
        var layout = TensorNames.DetectLayout(model, ckpt);
        if (pre is not null && layout == ExpertLayout.Fused)
            throw new CheckpointException(ckpt.Directory, TensorNames.FusedGateUp(model.MoeLayerIndices[0]),
                $"fused experts in a pre-quantized ({pre.Method}) checkpoint are not loaded; quantizers export one tensor per expert");

        var tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        var quantized = new Dictionary<string, QuantizedLinear>(StringComparer.Ordinal);
        var extra = new Dictionary<string, ExtraTensor>(StringComparer.Ordinal);
        foreach (var g in TensorNames.Global(model))
        {
            var t = ckpt.Require(g);
            extra[g.Name] = new ExtraTensor(g.Name, t.File.Path, t.Entry);
        }
        for (int i = 0; i < model.Layers; i++)
        {
            foreach (var x in TensorNames.ForLayer(model, i, layout))
            {
                if (pre is not null && x.Name.EndsWith("_proj.weight", StringComparison.Ordinal) && QuantizedLinear.Read(ckpt, pre, x) is { } ql)
                {
                    quantized[x.Name] = ql;
                    continue;
                }
                var t = ckpt.Require(x);
                if (x.Name.EndsWith("q_norm.weight", StringComparison.Ordinal) || x.Name.EndsWith("k_norm.weight", StringComparison.Ordinal))
                    extra[x.Name] = new ExtraTensor(x.Name, t.File.Path, t.Entry);
                else tensors[x.Name] = t;
            }
            if (pre is not null) KvCacheScales(ckpt, i, extra);
        }
        if (pre is not null && quantized.Count == 0)
            throw new CheckpointException(pre.File, null,
                $"says the checkpoint is pre-quantized ({pre.Method}), but every Linear weight is stored unquantized");
        if (ckpt.Unconsumed() is [string unexpected, ..] rest)
            throw new CheckpointException(ckpt.Directory, unexpected,
                $"tensor is not part of a {model.ModelType} model as config.json describes it ({rest.Count} unexpected in all)");

        var owned = new List<IDisposable>();
        var built = new List<LoadedLayer>();
        try
        {
            var preset = ModelPreset.From(model, engine.MaxTokens, new[] { engine.MaxTokens });
            var result = Build(engine, preset, quant, tensors, new DeviceUpload(new TensorUploader { ExpectedBytes = tensors.Values.Sum(t => t.ByteLength) + quantized.Values.Sum(q => q.Weight.ByteLength + q.Scale.ByteLength) }, progress, ct),
                owned, built, layout, extra, quantized);
            foreach (var l in built) engine.Add(l.Layer);
            return result;
        }
        catch
        {
            for (int i = built.Count - 1; i >= 0; i--) built[i].Layer.Dispose();
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
            throw;
        }
    }

    private static LoadedModel Build(PrefillEngine engine, ModelPreset preset, QuantConfig quant, Dictionary<string, CheckpointTensor> w,
        DeviceUpload upload, List<IDisposable> owned, List<LoadedLayer> built, ExpertLayout layout, Dictionary<string, ExtraTensor> extra,
        Dictionary<string, QuantizedLinear> quantized)
    {
        var model = preset.Model;
        var ctx = engine.Context;
        var device = engine.Device;
        var dt = DType.BF16;
        Tensor Rent(string name, long width)
        {
            // Zeroed as the engine's activations are (PrefillEngine.Activation): row-guarded layers leave padded rows to the next.
            owned.Add(engine.Pool.RentZeroedTensor(dt, new long[] { engine.MaxTokens, width }, out var t, name));
            return t;
        }
        int h = model.Hidden;
        var resid = Rent("resid", h);
        var normed = Rent("normed", h);
        var qkv = Rent("qkv", preset.QkvOut);
        var attn = Rent("attn", preset.AttentionOut);
        var o = Rent("o", h);
        var mlpOut = Rent("mlp_out", h);
        Tensor guAll = default, actAll = default;
        if (preset.Intermediate > 0)
        {
            guAll = Rent("gate_up", 2L * preset.Intermediate);
            actAll = Rent("act", preset.Intermediate);
        }
        float eps = (float)model.RmsNormEps;
        var denseGroup = quant.DenseLayerGroupSize;

        RmsNorm Norm(string name, string tensor, Tensor input, Tensor? residual)
        {
            var n = new RmsNorm(ctx, name, h, dt, eps, input, normed, residual);
            try
            {
                n.LoadWeight(upload.Floats(w[tensor], device));
            }
            catch
            {
                n.Dispose();
                throw;
            }
            return n;
        }
        Linear Fused(string name, Tensor input, Tensor output, params string[] parts)
        {
            if (QuantizedParts(quantized, parts) is { } stored)
                return new Linear(ctx, name, input, output, PrequantizedMethods.Linear(ctx, dt, stored, upload));
            long inF = input.Dim(1), outF = output.Dim(1);
            using var src = device.AllocateTensor(dt, new[] { outF, inF }, out var t, $"{name}.source");
            long at = 0;
            foreach (var part in parts)
            {
                upload.To(w[part], t, at);
                at += w[part].Entry.ElementCount;
            }
            var lin = Linear.Create(ctx, name, input, output, quant.DenseMode, denseGroup, LinearWeights.FromDevice(t));
            ctx.LoadStream.Synchronize();   // the source is freed here; the method must have read it
            return lin;
        }

        foreach (var d in model.DecoderLayers)
        {
            int i = d.Index;
            string p = TensorNames.Layer(i), l = $"layers.{i}";
            built.Add(new(i, LayerRole.InputNorm, Norm($"{l}.input_layernorm", $"{p}.input_layernorm.weight", i == 0 ? resid : mlpOut,
                i == 0 ? null : resid)));
            built.Add(new(i, LayerRole.QkvProj, Fused($"{l}.self_attn.qkv_proj", normed, qkv,
                $"{p}.self_attn.q_proj.weight", $"{p}.self_attn.k_proj.weight", $"{p}.self_attn.v_proj.weight")));
            built.Add(new(i, LayerRole.OProj, Fused($"{l}.self_attn.o_proj", attn, o, $"{p}.self_attn.o_proj.weight")));
            built.Add(new(i, LayerRole.PostAttentionNorm, Norm($"{l}.post_attention_layernorm", $"{p}.post_attention_layernorm.weight", o, resid)));
            if (d.Moe is { } moe)
            {
                var options = ModelFactory.MoeOptionsFor(model, i, quant, (uint)i + 1);
                if (moe.SharedExperts > 0 && QuantizedParts(quantized, $"{p}.mlp.shared_experts.gate_proj.weight",
                        $"{p}.mlp.shared_experts.up_proj.weight", $"{p}.mlp.shared_experts.down_proj.weight") is [var shared, ..])
                    throw new CheckpointException(shared.Weight.File.Path, shared.Weight.Name,
                        $"is stored {shared.Weight.DType.HeaderName()}: pre-quantized shared experts are not loaded (the MoE layer runs them in bf16/fp16)");
                var experts = ExpertParts(quantized, model, i);
                if (experts is not null)
                {
                    var mode = PrequantizedMethods.ModeOf(experts.GateUp[0][0].Format);
                    // The block-fp8 experts run one dense GEMM per padded slab (BlockWiseFp8MoeMethod).
                    options = options with { Quant = mode, Layout = mode == QuantMode.BlockWiseFp8 ? TokenLayout.Padded : options.Layout };
                }
                var source = new CheckpointMoeSource(n => w[n], upload, i, moe, h, layout, experts);
                built.Add(new(i, LayerRole.Moe, new Moe(ctx, $"{l}.mlp", options, normed, mlpOut, source)));
            }
            else
            {
                int f = d.DenseFfn;
                var gu = new Tensor(guAll.Device, guAll.Ptr, dt, guAll.Rows, 2L * f);
                var act = new Tensor(actAll.Device, actAll.Ptr, dt, actAll.Rows, f);
                built.Add(new(i, LayerRole.DenseGateUp, Fused($"{l}.mlp.gate_up_proj", normed, gu,
                    $"{p}.mlp.gate_proj.weight", $"{p}.mlp.up_proj.weight")));
                built.Add(new(i, LayerRole.DenseAct, new SwiGlu(ctx, $"{l}.mlp.act_fn", gu, act)));
                built.Add(new(i, LayerRole.DenseDown, Fused($"{l}.mlp.down_proj", act, mlpOut, $"{p}.mlp.down_proj.weight")));
            }
        }
        return new LoadedModel(engine, model, layout, built.ToArray(), extra, new ModelBuffers(resid, mlpOut, qkv, attn), owned.ToArray());
    }

    /// <summary>The quantized tensors of <paramref name="parts"/>, or null when all are stored unquantized; a mix is refused.</summary>
    private static QuantizedLinear[]? QuantizedParts(Dictionary<string, QuantizedLinear> quantized, params string[] parts)
    {
        var found = parts.Select(n => quantized.GetValueOrDefault(n)).ToArray();
        if (found.All(q => q is null)) return null;
        if (found.Any(q => q is null))
        {
            var q = found.First(q => q is not null)!;
            string plain = parts[Array.FindIndex(found, f => f is null)];
            throw new CheckpointException(q.Weight.File.Path, plain,
                $"is stored unquantized while {q.Weight.Name} is {q.Format}; the engine runs these projections as one");
        }
        return found!;
    }

    /// <summary>Per expert, the quantized gate+up and down of MoE layer <paramref name="layer"/>; null when the experts are stored unquantized.</summary>
    private static CheckpointMoeSource.QuantizedExperts? ExpertParts(Dictionary<string, QuantizedLinear> quantized, ModelDescription model, int layer)
    {
        var moe = model.DecoderLayers[layer].Moe!;
        string dir = quantized.Count > 0 ? Path.GetDirectoryName(quantized.Values.First().Weight.File.Path)! : model.Name;
        var gateUp = new QuantizedLinear[moe.Experts][];
        var down = new QuantizedLinear[moe.Experts][];
        bool any = false, all = true;
        for (int e = 0; e < moe.Experts; e++)
        {
            var gu = QuantizedParts(quantized, TensorNames.Expert(layer, e, "gate_proj"), TensorNames.Expert(layer, e, "up_proj"));
            var d = QuantizedParts(quantized, TensorNames.Expert(layer, e, "down_proj"));
            if ((gu is null) != (d is null))
                throw new CheckpointException(dir, TensorNames.Expert(layer, e, gu is null ? "gate_proj" : "down_proj"),
                    "is stored unquantized while the expert's other projections are quantized");
            any |= gu is not null;
            all &= gu is not null;
            gateUp[e] = gu!;
            down[e] = d!;
        }
        if (!any) return null;
        if (!all)
            throw new CheckpointException(dir, TensorNames.Expert(layer, Array.FindIndex(gateUp, g => g is null), "gate_proj"),
                $"is stored unquantized while other experts of layer {layer} are quantized; one MoE layer runs one format");
        return new CheckpointMoeSource.QuantizedExperts(gateUp, down);
    }

    /// <summary>
    /// A quantized KV cache's scales (ModelOpt's kv_cache_quant_algo: k_scale / v_scale on the attention or on k_proj /
    /// v_proj) belong to the application's attention: handed on as extra tensors.
    /// </summary>
    private static void KvCacheScales(CheckpointDirectory ckpt, int layer, Dictionary<string, ExtraTensor> extra)
    {
        string a = $"{TensorNames.Layer(layer)}.self_attn";
        foreach (string name in new[] { $"{a}.k_scale", $"{a}.v_scale", $"{a}.k_proj.k_scale", $"{a}.v_proj.v_scale" })
            if (ckpt.TryGet(name, out var t))
                extra[name] = new ExtraTensor(name, t.File.Path, t.Entry);
    }
}
