using System.Text.Json;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Checkpoints;

public class CheckpointDirectoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private void Config(string json = """{"model_type": "llama"}""") => File.WriteAllText(_dir.File("config.json"), json);

    private void Index(Dictionary<string, string> weightMap) =>
        File.WriteAllText(_dir.File("model.safetensors.index.json"),
            JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = weightMap }));

    /// <summary>Writes shard <paramref name="file"/> holding a random U8 tensor of each (name, bytes).</summary>
    private void U8Shard(string file, params (string Name, int Bytes)[] tensors)
    {
        var w = new SafetensorsTestWriter();
        foreach (var (name, bytes) in tensors) w.AddRandom(name, "U8", bytes);
        w.Write(_dir.File(file));
    }

    private CheckpointException Refused()
    {
        var e = Assert.Throws<CheckpointException>(() => CheckpointDirectory.Open(_dir.Path));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void Single_file_lookup_and_unconsumed()
    {
        Config();
        File.WriteAllText(_dir.File("hf_quant_config.json"), """{"quantization": {"quant_algo": "NVFP4"}}""");
        var w = new SafetensorsTestWriter();
        var a = w.AddRandom("a", "BF16", 3, 7);
        w.AddRandom("b", "F32", 5);
        w.AddRandom("c", "I64", 2);
        w.Write(_dir.File("model.safetensors"));

        using var ckpt = CheckpointDirectory.Open(_dir.Path);
        Assert.Equal("""{"model_type": "llama"}""", ckpt.ConfigJson);
        Assert.Contains("NVFP4", ckpt.QuantConfigJson);
        Assert.Equal(new[] { "a", "b", "c" }, ckpt.Names);
        Assert.Equal(42L + 20 + 16, ckpt.TensorBytes);
        Assert.True(ckpt.Get("a").Bytes.SequenceEqual(a));
        Assert.True(ckpt.TryGet("c", out _));
        Assert.Equal(new[] { "b" }, ckpt.Unconsumed());
        ckpt.MarkConsumed("b");
        Assert.Empty(ckpt.Unconsumed());

        var e = Assert.Throws<CheckpointException>(() => ckpt.Get("model.layers.0.mlp.gate.weight"));
        Assert.Equal($"{_dir.Path}: 'model.layers.0.mlp.gate.weight': tensor is not in the checkpoint", e.Message);
        Assert.False(ckpt.TryGet("nope", out _));
    }

    [Fact]
    public void Sharded_lookup_across_shards_is_byte_exact()
    {
        Config();
        var w1 = new SafetensorsTestWriter();
        var x = w1.AddRandom("model.embed_tokens.weight", "BF16", 11, 3);
        var w2 = new SafetensorsTestWriter();
        var y = w2.AddRandom("model.norm.weight", "BF16", 3);
        var z = w2.AddRandom("lm_head.weight", "F8_E4M3", 11, 3);
        w1.Write(_dir.File("model-00001-of-00002.safetensors"));
        w2.Write(_dir.File("model-00002-of-00002.safetensors"));
        Index(new()
        {
            ["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors",
            ["model.norm.weight"] = "model-00002-of-00002.safetensors",
            ["lm_head.weight"] = "model-00002-of-00002.safetensors",
        });

        using var ckpt = CheckpointDirectory.Open(_dir.Path);
        Assert.Equal(2, ckpt.Files.Count);
        Assert.EndsWith("model-00001-of-00002.safetensors", ckpt.Files[0].Path);
        Assert.True(ckpt.Get("model.embed_tokens.weight").Bytes.SequenceEqual(x));
        Assert.True(ckpt.Get("model.norm.weight").Bytes.SequenceEqual(y));
        var head = ckpt.Get("lm_head.weight");
        Assert.EndsWith("model-00002-of-00002.safetensors", head.File.Path);
        Assert.Equal(GraphEngine.Kernels.DType.Fp8E4M3, head.KernelDType);
        Assert.True(head.Bytes.SequenceEqual(z));
        Assert.Empty(ckpt.Unconsumed());
    }

    [Fact]
    public void Index_naming_a_missing_shard()
    {
        Config();
        U8Shard("s1.safetensors", ("a", 4));
        Index(new() { ["a"] = "s1.safetensors", ["b"] = "s2.safetensors" });
        var e = Refused();
        Assert.Contains("model.safetensors.index.json: 'b': is mapped to shard 's2.safetensors', which is missing", e.Message);
    }

    [Fact]
    public void Tensor_in_index_absent_from_its_shard()
    {
        Config();
        U8Shard("s1.safetensors", ("a", 4));
        U8Shard("s2.safetensors", ("b", 4), ("c", 3));
        Index(new() { ["a"] = "s1.safetensors", ["b"] = "s1.safetensors", ["c"] = "s2.safetensors" });
        var e = Refused();
        Assert.Contains("'b': is mapped to s1.safetensors, which does not hold it (found in s2.safetensors)", e.Message);
    }

    [Fact]
    public void Tensor_in_two_shards()
    {
        Config();
        U8Shard("s1.safetensors", ("a", 4), ("dup", 2));
        U8Shard("s2.safetensors", ("dup", 2));
        Index(new() { ["a"] = "s1.safetensors", ["dup"] = "s2.safetensors" });
        var e = Refused();
        Assert.Contains("s2.safetensors: 'dup': tensor also appears in s1.safetensors", e.Message);
    }

    [Fact]
    public void Shard_outside_the_directory()
    {
        Config();
        Index(new() { ["a"] = "../elsewhere.safetensors" });
        var e = Refused();
        Assert.Contains("'a': names shard '../elsewhere.safetensors', which is not a plain file name", e.Message);
    }

    [Fact]
    public void A_bad_shard_header_names_the_shard()
    {
        Config();
        SafetensorsTestWriter.WriteRaw(_dir.File("s1.safetensors"), """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""",
            new byte[4]);
        Index(new() { ["a"] = "s1.safetensors" });
        var e = Refused();
        Assert.StartsWith(_dir.File("s1.safetensors") + ": 'a': holds 4 bytes but F32 [2] needs 8", e.Message);
    }

    [Fact]
    public void Missing_config_and_missing_weights()
    {
        var e = Refused();
        Assert.Contains("config.json is missing", e.Message);
        Config();
        e = Refused();
        Assert.Contains("has neither model.safetensors nor model.safetensors.index.json", e.Message);
    }

    [Fact]
    public void Single_file_wins_over_an_index()
    {
        Config();
        U8Shard("model.safetensors", ("only", 3));
        Index(new() { ["gone"] = "missing.safetensors" });
        using var ckpt = CheckpointDirectory.Open(_dir.Path);
        Assert.Equal(new[] { "only" }, ckpt.Names);
    }

    [Fact]
    public void Require_checks_shape_and_dtype()
    {
        Config();
        var w = new SafetensorsTestWriter();
        w.AddRandom("model.norm.weight", "BF16", 6);
        w.Write(_dir.File("model.safetensors"));
        using var ckpt = CheckpointDirectory.Open(_dir.Path);
        var e = Assert.Throws<CheckpointException>(() => ckpt.Require(new ExpectedTensor("model.norm.weight", new long[] { 8 })));
        Assert.Contains("'model.norm.weight': has shape [6], the model expects [8]", e.Message);
        e = Assert.Throws<CheckpointException>(() =>
            ckpt.Require(new ExpectedTensor("model.norm.weight", new long[] { 6 }), SafetensorsDType.F32));
        Assert.Contains("is BF16, the model expects F32", e.Message);
        Assert.Equal(12L, ckpt.Require(new ExpectedTensor("model.norm.weight", new long[] { 6 }), SafetensorsDType.BF16).ByteLength);
    }
}
