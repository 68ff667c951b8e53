using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using GraphEngine.Layers.Quantization;
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
        CheckpointQuantization.RefusePrequantized(ckpt);
        if (model.QkvBias || model.OutputBias || model.MlpBias)
            throw new CheckpointException(ckpt.ConfigPath, null, "projection biases are not supported by the loader yet");
        var layout = TensorNames.DetectLayout(model, ckpt);

        var tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        var extra = new Dictionary<string, ExtraTensor>(StringComparer.Ordinal);
        foreach (var g in TensorNames.Global(model))
        {
            var t = ckpt.Require(g);
            extra[g.Name] = new ExtraTensor(g.Name, t.File.Path, t.Entry);
        }
        for (int i = 0; i < model.Layers; i++)
            foreach (var x in TensorNames.ForLayer(model, i, layout))
            {
                var t = ckpt.Require(x);
                if (x.Name.EndsWith("q_norm.weight", StringComparison.Ordinal) || x.Name.EndsWith("k_norm.weight", StringComparison.Ordinal))
                    extra[x.Name] = new ExtraTensor(x.Name, t.File.Path, t.Entry);
                else tensors[x.Name] = t;
            }
        if (ckpt.Unconsumed() is [string unexpected, ..] rest)
            throw new CheckpointException(ckpt.Directory, unexpected,
                $"tensor is not part of a {model.ModelType} model as config.json describes it ({rest.Count} unexpected in all)");

        var owned = new List<IDisposable>();
        var built = new List<LoadedLayer>();
        try
        {
            var preset = ModelPreset.From(model, engine.MaxTokens, new[] { engine.MaxTokens });
            var result = Build(engine, preset, quant, tensors, new DeviceUpload(new TensorUploader { ExpectedBytes = tensors.Values.Sum(t => t.ByteLength) }, progress, ct), owned, built, layout, extra);
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
        DeviceUpload upload, List<IDisposable> owned, List<LoadedLayer> built, ExpertLayout layout, Dictionary<string, ExtraTensor> extra)
    {
        var model = preset.Model;
        var ctx = engine.Context;
        var device = engine.Device;
        var dt = DType.BF16;
        Tensor Rent(string name, long width)
        {
            owned.Add(engine.Pool.RentTensor(dt, new long[] { engine.MaxTokens, width }, out var t, name));
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
                var source = new CheckpointMoeSource(n => w[n], upload, i, moe, h, layout);
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
}
