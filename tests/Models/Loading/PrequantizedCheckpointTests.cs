using GraphEngine.Layers.Methods;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using GraphEngine.Tests.Cli;
using GraphEngine.Tests.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Loading;

/// <summary>
/// Pre-quantized checkpoints (ModelOpt NVFP4, block-wise fp8) written by <see cref="PrequantizedCheckpoint"/> load as stored
/// on the reference backend, and every engine layer matches a float64 computation from the checkpoint's own bytes
/// (decoded by the test) at n = 1, 7, 11. Tolerance <see cref="ModelCheck.Float64Tolerance"/> (1e-2 relative
/// Frobenius): the oracle multiplies the decoded weights exactly and, for fp8, the activations quantized as the
/// format defines, so what is left is the engine's bf16 outputs and intermediates and fp32 accumulation, as for
/// bf16 checkpoints; a wrong nibble order, scale index, shuffle or global scale errs by 1e-1 or more. Unsupported
/// configurations and bad files are refused in one line naming the file and the tensor or key, leaving nothing behind.
/// </summary>
public class PrequantizedCheckpointTests
{
    /// <summary>ERNIE-4.5-MoE with NVFP4's constraint (K a multiple of 16) and odd sizes otherwise: N of QKV 160, 5 experts
    /// top-2 with FFN 48 (not a multiple of the kernel's 64-wide K tile), dense FFN 112, 2 shared experts (left bf16).</summary>
    private const string ErnieNvfp4 = """
        {
          "architectures": ["Ernie4_5_MoeForCausalLM"], "model_type": "ernie4_5_moe", "hidden_act": "silu",
          "hidden_size": 80, "intermediate_size": 112, "num_attention_heads": 4, "num_key_value_heads": 2,
          "num_hidden_layers": 3, "rms_norm_eps": 1e-05, "vocab_size": 40, "tie_word_embeddings": true, "use_bias": false,
          "moe_num_experts": 5, "moe_num_shared_experts": 2, "moe_layer_start_index": 1, "moe_layer_end_index": 2,
          "moe_layer_interval": 1, "moe_intermediate_size": 48, "moe_k": 2, "moe_norm_min": 1e-12, "torch_dtype": "bfloat16"
        }
        """;

    /// <summary>Qwen3-MoE with block-fp8's fusing constraint (q, k, gate N multiples of 128) and hidden 200 (K tails of 72),
    /// 5 experts top-2, dense layer 0 (mlp_only_layers).</summary>
    private const string Qwen3MoeFp8 = """
        {
          "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_act": "silu", "attention_bias": false,
          "hidden_size": 200, "intermediate_size": 256, "head_dim": 32, "num_attention_heads": 8, "num_key_value_heads": 4,
          "num_hidden_layers": 2, "rms_norm_eps": 1e-06, "vocab_size": 40, "tie_word_embeddings": false,
          "num_experts": 5, "num_experts_per_tok": 2, "moe_intermediate_size": 128, "norm_topk_prob": true,
          "decoder_sparse_step": 1, "mlp_only_layers": [0], "torch_dtype": "bfloat16",
          "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "dynamic",
                                  "modules_to_not_convert": ["lm_head", "model.layers.*.mlp.gate", "model.layers.0.mlp.down_proj"]}
        }
        """;

    private const string ModelOptConfig = """
        {"producer": {"name": "modelopt", "version": "0.29.0"},
         "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": null, "group_size": 16,
                          "exclude_modules": ["lm_head", "model.layers.*.mlp.gate", "model.layers.*.mlp.shared_experts*", "model.layers.0.self_attn.o_proj"]}}
        """;

    private static bool KeptNvfp4(string name) => name.Contains(".shared_experts.", StringComparison.Ordinal) || name == "model.layers.0.self_attn.o_proj.weight";
    private static bool KeptFp8(string name) => name == "model.layers.0.mlp.down_proj.weight";

    internal static PrequantizedCheckpoint Write(string dir, string kind,
        Action<List<(string Name, string DType, long[] Shape, byte[] Data)>>? edit = null, string? hfQuant = ModelOptConfig)
    {
        var ckpt = kind switch
        {
            "ernie-nvfp4" => new PrequantizedCheckpoint(dir, ErnieNvfp4, PrequantizedFormat.Nvfp4, KeptNvfp4, edit: edit),
            "llama-nvfp4" => new PrequantizedCheckpoint(dir, TinyCheckpoint.LlamaJson, PrequantizedFormat.Nvfp4, _ => false, edit: edit),
            "qwen3-moe-fp8" => new PrequantizedCheckpoint(dir, Qwen3MoeFp8, PrequantizedFormat.BlockFp8, KeptFp8, edit: edit),
            _ => throw new ArgumentException(kind, nameof(kind)),
        };
        if (ckpt.Format == PrequantizedFormat.Nvfp4 && hfQuant is not null)
            File.WriteAllText(Path.Combine(dir, CheckpointDirectory.QuantConfigFileName),
                kind == "llama-nvfp4" ? hfQuant.Replace(", \"model.layers.0.self_attn.o_proj\"", "") : hfQuant);
        return ckpt;
    }

    private static QuantConfig None => QuantConfig.Parse("none", "test", true);

    [Theory]
    [InlineData("ernie-nvfp4")]
    [InlineData("llama-nvfp4")]
    [InlineData("qwen3-moe-fp8")]
    public void Every_layer_matches_float64_from_the_checkpoints_bytes(string kind)
    {
        using var dir = new TempDirectory();
        var ckpt = Write(dir.Path, kind);
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, None);
        var oracle = new Float64Oracle(ckpt.Model, ckpt.Weight, ckpt.Activations);
        var rows = ModelCheck.AgainstFloat64(model, oracle, ModelLoaderTests.TokenCounts);
        Assert.Equal(model.Layers.Count * ModelLoaderTests.TokenCounts.Length, rows.Count);
        Assert.All(rows, r => Assert.True(r.Passed && r.Ties == 0 && r.Mismatches == 0, $"{kind}: {r}"));

        // The layers run the stored format, except what the checkpoint kept unquantized.
        var mode = ckpt.Format == PrequantizedFormat.Nvfp4 ? QuantMode.Nvfp4 : QuantMode.BlockWiseFp8;
        Assert.Equal(mode, model.Layer(0, LayerRole.QkvProj).Layer.Quant);
        Assert.Equal(mode, model.Layer(0, LayerRole.DenseGateUp).Layer.Quant);
        if (kind == "ernie-nvfp4") Assert.Equal(QuantMode.None, model.Layer(0, LayerRole.OProj).Layer.Quant);
        if (kind == "qwen3-moe-fp8") Assert.Equal(QuantMode.None, model.Layer(0, LayerRole.DenseDown).Layer.Quant);
        if (ckpt.Model.IsMoe)
        {
            var moe = (GraphEngine.Layers.Moe)model.Layer(1, LayerRole.Moe).Layer;
            Assert.Equal(mode, moe.Quant);
            Assert.Equal(mode, moe.Down.Mode);
        }
    }

    /// <summary>The weights on the device are the checkpoint's: each method's dequantized weights equal the test's decoding exactly.</summary>
    [Theory]
    [InlineData("ernie-nvfp4")]
    [InlineData("qwen3-moe-fp8")]
    public void Stored_bytes_reach_the_device_unchanged(string kind)
    {
        using var dir = new TempDirectory();
        var ckpt = Write(dir.Path, kind);
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, None);
        var qkv = (GraphEngine.Layers.Linear)model.Layer(0, LayerRole.QkvProj).Layer;
        string a = "model.layers.0.self_attn";
        var expected = ckpt.Weight($"{a}.q_proj.weight").Concat(ckpt.Weight($"{a}.k_proj.weight")).Concat(ckpt.Weight($"{a}.v_proj.weight"));
        Assert.Equal(expected, qkv.Method.DequantizedWeights());
        var moe = (GraphEngine.Layers.Moe)model.Layer(1, LayerRole.Moe).Layer;
        for (int e = 0; e < ckpt.Model.DecoderLayers[1].Moe!.Experts; e++)
        {
            Assert.Equal(ckpt.Weight(TensorNames.Expert(1, e, "gate_proj")).Concat(ckpt.Weight(TensorNames.Expert(1, e, "up_proj"))),
                moe.GateUp.DequantizedWeights(e));
            Assert.Equal(ckpt.Weight(TensorNames.Expert(1, e, "down_proj")), moe.Down.DequantizedWeights(e));
        }
    }

    public static TheoryData<string?, string?, string, string> Refusals => new()
    {
        // config.json quantization_config (null: none), hf_quant_config.json (null: none), the key named, the value named
        { """{"quant_method": "fp8", "activation_scheme": "dynamic"}""", null, "quantization_config.weight_block_size", "fp8 per-tensor" },
        { """{"quant_method": "fp8", "weight_block_size": [64, 64]}""", null, "quantization_config.weight_block_size", "[64, 64]" },
        { """{"quant_method": "fp8", "weight_block_size": [128, 128], "activation_scheme": "static"}""", null, "quantization_config.activation_scheme", "static" },
        { """{"quant_method": "gptq", "bits": 4}""", null, "quantization_config.quant_method", "'gptq'" },
        { """{"bits": 4}""", null, "quantization_config.quant_method", "'(no quant_method)'" },
        { """{"quant_method": "modelopt", "quant_algo": "FP8"}""", null, "quantization_config.quant_algo", "'FP8'" },
        { """{"quant_method": "modelopt", "quant_algo": "NVFP4", "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 32}}}}""", null,
          "quantization_config.group_size", "group size 32" },
        { null, """{"quantization": {"quant_algo": "NVFP4", "group_size": 32}}""", "quantization.group_size", "group size 32" },
        { null, """{"quantization": {"quant_algo": "W4A8_AWQ"}}""", "quantization.quant_algo", "'W4A8_AWQ'" },
        { null, """{"quant_algo": "FP8"}""", "quantization.quant_algo", "'FP8'" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Unsupported_quantization_is_refused_by_name(string? quantizationConfig, string? hfQuant, string key, string value)
    {
        using var dir = new TempDirectory();
        string json = TinyCheckpoint.ErnieJson;
        if (quantizationConfig is not null) json = json.Insert(json.IndexOf('{') + 1, $"\n  \"quantization_config\": {quantizationConfig},");
        _ = new TinyCheckpoint(dir.Path, json);
        if (hfQuant is not null) File.WriteAllText(dir.File(CheckpointDirectory.QuantConfigFileName), hfQuant);
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        long before = engine.Pool.InUseBytes;
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, None));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith(key, e.Subject);
        Assert.Contains(value, e.Message);
        Assert.Contains(hfQuant is null ? "config.json" : CheckpointDirectory.QuantConfigFileName, e.File);
        Assert.Empty(engine.Layers);
        Assert.Equal(before, engine.Pool.InUseBytes);
    }

    public static TheoryData<string, string, string> BadFiles => new()
    {
        // case, the tensor named, a phrase of the problem
        { "scale-shape", "model.layers.1.mlp.experts.3.up_proj.weight_scale", "has shape [48, 10], expected [48, 5]" },
        { "no-scale-2", "model.layers.0.self_attn.k_proj.weight_scale_2", "is missing" },
        { "scale-dtype", "model.layers.2.mlp.experts.0.down_proj.weight_scale", "is F32, expected F8_E4M3" },
        { "weight-dtype", "model.layers.0.mlp.gate_proj.weight", "is I8, expected U8" },
        { "scale-2-shape", "model.layers.0.mlp.down_proj.weight_scale_2", "expected a scalar" },
        { "global-differs", "model.layers.1.mlp.experts.2.up_proj.weight_scale_2", "one global scale" },
        { "excluded-but-quantized", "model.layers.0.self_attn.o_proj.weight", "lists 'model.layers.0.self_attn.o_proj' as left unquantized" },
        { "half-quantized-qkv", "model.layers.0.self_attn.v_proj.weight", "is stored unquantized while" },
        { "fp8-scale-shape", "model.layers.1.mlp.experts.4.down_proj.weight_scale_inv", "has shape [1, 2], expected [2, 1]" },
        { "fp8-misaligned", "model.layers.0.self_attn.k_proj.weight", "not a multiple of 128" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void A_bad_prequantized_file_names_the_file_and_tensor(string kind, string tensor, string problem)
    {
        using var dir = new TempDirectory();
        bool fp8 = kind.StartsWith("fp8", StringComparison.Ordinal);
        void Edit(List<(string Name, string DType, long[] Shape, byte[] Data)> list)
        {
            int At(string name) => list.FindIndex(t => t.Name == name);
            void Replace(string name, string dtype, long[] shape, byte[] data) => list[At(name)] = (name, dtype, shape, data);
            switch (kind)
            {
                case "scale-shape": Replace(tensor, "F8_E4M3", new long[] { 48, 10 }, new byte[480]); break;
                case "no-scale-2": list.RemoveAt(At(tensor)); break;
                case "scale-dtype": Replace(tensor, "F32", list[At(tensor)].Shape, new byte[list[At(tensor)].Data.Length * 4]); break;
                case "weight-dtype": Replace(tensor, "I8", list[At(tensor)].Shape, list[At(tensor)].Data); break;
                case "scale-2-shape": Replace(tensor, "F32", new long[] { 2 }, new byte[8]); break;
                case "global-differs": Replace(tensor, "F32", Array.Empty<long>(), BitConverter.GetBytes(BitConverter.ToSingle(list[At(tensor)].Data) * 2)); break;
                case "fp8-scale-shape": Replace(tensor, "F32", new long[] { 1, 2 }, new byte[8]); break;
                case "half-quantized-qkv":
                    foreach (string s in new[] { "weight_scale", "weight_scale_2", "input_scale" }) list.RemoveAt(At($"model.layers.0.self_attn.v_proj.{s}"));
                    Replace(tensor, "BF16", new long[] { 40, 80 }, new byte[40 * 80 * 2]);
                    break;
            }
        }
        string? hfQuant = kind == "excluded-but-quantized" ? ModelOptConfig : null;
        if (kind == "excluded-but-quantized")
            _ = new PrequantizedCheckpoint(dir.Path, ErnieNvfp4, PrequantizedFormat.Nvfp4, n => n.Contains(".shared_experts.", StringComparison.Ordinal));
        else if (kind == "fp8-misaligned")
            // k_proj of 2 heads of 32 is 64 rows: fused before v_proj, its last scale block would also cover v_proj's rows.
            _ = new PrequantizedCheckpoint(dir.Path, Qwen3MoeFp8.Replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 2"),
                PrequantizedFormat.BlockFp8, KeptFp8);
        else _ = Write(dir.Path, fp8 ? "qwen3-moe-fp8" : "ernie-nvfp4", Edit, hfQuant: null);
        if (hfQuant is not null) File.WriteAllText(dir.File(CheckpointDirectory.QuantConfigFileName), hfQuant);
        else if (!fp8) File.WriteAllText(dir.File(CheckpointDirectory.QuantConfigFileName), """{"quantization": {"quant_algo": "NVFP4", "group_size": 16}}""");

        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        long before = engine.Pool.InUseBytes, allocated = device.AllocatedBytes;
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, None));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(tensor, e.Subject);
        Assert.Contains(problem, e.Message);
        Assert.EndsWith(".safetensors", e.File);
        Assert.Empty(engine.Layers);
        Assert.Equal(before, engine.Pool.InUseBytes);
        Assert.Equal(allocated, device.AllocatedBytes);
    }

    [Fact]
    public void Quantizing_a_prequantized_checkpoint_again_is_refused()
    {
        using var dir = new TempDirectory();
        _ = Write(dir.Path, "llama-nvfp4");
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("wint8", "test", false)));
        Assert.Contains("pre-quantized (NVFP4)", e.Message);
        Assert.Contains("wint8", e.Message);
    }

    [Fact]
    public void A_broken_hf_quant_config_is_named_as_such()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.ErnieJson);
        File.WriteAllText(dir.File(CheckpointDirectory.QuantConfigFileName), "{ not json");
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, None));
        Assert.Contains(CheckpointDirectory.QuantConfigFileName, e.Message);
        Assert.Contains("is not valid JSON", e.Message);
    }

    [Fact]
    public void A_null_quantization_config_is_no_quantization()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.ErnieJson.Insert(TinyCheckpoint.ErnieJson.IndexOf('{') + 1, "\n  \"quantization_config\": null,"));
        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, None);
        Assert.NotEmpty(engine.Layers);
    }

    [Theory]
    [InlineData("lm_head", "lm_head", true)]
    [InlineData("model.layers.*.mlp.gate", "model.layers.12.mlp.gate", true)]
    [InlineData("model.layers.*.mlp.gate", "model.layers.12.mlp.gate_proj", false)]
    [InlineData("model.layers.*.mlp.shared_experts*", "model.layers.3.mlp.shared_experts.up_proj", true)]
    [InlineData("model.layers.?.self_attn*", "model.layers.10.self_attn.q_proj", false)]
    [InlineData("*", "anything", true)]
    public void Exclusion_patterns_are_fnmatch_wildcards(string pattern, string module, bool match) =>
        Assert.Equal(match, CheckpointQuantization.Glob(pattern, module));

    [Theory]
    [InlineData("ernie-nvfp4", "loaded 17 layers")]
    [InlineData("qwen3-moe-fp8", "loaded 12 layers")]
    public void The_cli_runs_and_checks_a_prequantized_checkpoint(string kind, string loaded)
    {
        using var dir = new TempDirectory();
        _ = Write(dir.Path, kind);
        var run = CliHarness.Run(new[] { "run", "--model", dir.Path, "--backend", "reference", "--tokens", "1,7", "--sizes", "1,8" });
        Assert.True(run.Exit == 0, run.Out + run.Err);
        Assert.Contains(loaded, run.Out);
        Assert.Contains(kind.EndsWith("fp8", StringComparison.Ordinal) ? "block_wise_fp8" : "nvfp4", run.Out);
        var check = CliHarness.Run(new[] { "check", "--model", dir.Path, "--backend", "reference", "--tokens", "1,7" });
        Assert.True(check.Exit == 0, check.Out + check.Err);
        Assert.Matches(@"\d+ passed, 0 failed", check.Out);
    }

    [Fact]
    public void The_cli_refuses_a_bad_prequantized_file_with_exit_2_and_one_line()
    {
        using var dir = new TempDirectory();
        _ = Write(dir.Path, "ernie-nvfp4", list => list.RemoveAll(t => t.Name == "model.layers.0.self_attn.q_proj.weight_scale"));
        var r = CliHarness.Run(new[] { "run", "--model", dir.Path, "--backend", "reference", "--tokens", "1" });
        CliHarness.AssertUsageError(r, "model.layers.0.self_attn.q_proj.weight_scale", "model.safetensors", "is missing");
    }
}
