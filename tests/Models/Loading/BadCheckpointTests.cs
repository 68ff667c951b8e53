using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using GraphEngine.Tests.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Loading;

/// <summary>
/// A checkpoint that does not match its config is refused with one line naming the file and the tensor,
/// and the engine is left as it was: no layer added, the pool's in-use bytes back to their value before.
/// </summary>
public class BadCheckpointTests
{
    private const string Router = "model.layers.1.mlp.gate.weight";
    private const string Expert = "model.layers.2.mlp.experts.3.up_proj.weight";
    private const string QProj = "model.layers.0.self_attn.q_proj.weight";

    public static TheoryData<string, string, string> Cases => new()
    {
        { "missing", Expert, "not in the checkpoint" },
        { "shape", QProj, "has shape [64, 65], the model expects [64, 64]" },
        { "extra", "model.layers.0.mlp.bogus.weight", "not part of a ernie4_5_moe model" },
        { "config", Router, "has shape [6, 64], the model expects [8, 64]" },
        // Found only while uploading, after layers 0 and 1 were built: exercises the unwinding.
        { "dtype", "model.layers.2.post_attention_layernorm.weight", "is I32" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_checkpoints_name_the_tensor_and_leave_the_engine_as_it_was(string kind, string tensor, string problem)
    {
        using var dir = new TempDirectory();
        string json = kind == "config"
            ? TinyCheckpoint.ErnieJson.Replace("\"moe_num_experts\": 6", "\"moe_num_experts\": 8")
            : TinyCheckpoint.ErnieJson;
        string written = kind == "config" ? TinyCheckpoint.ErnieJson : json;
        _ = new TinyCheckpoint(dir.Path, written, edit: list => Edit(kind, tensor, list));
        if (kind == "config") File.WriteAllText(dir.File("config.json"), json);

        using var device = new ReferenceDevice();
        using var engine = ModelLoaderTests.Engine(device);
        long before = engine.Pool.InUseBytes;
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", true)));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.Contains(dir.Path, e.Message);
        Assert.Equal(tensor, e.Subject);
        Assert.Empty(engine.Layers);
        Assert.Equal(before, engine.Pool.InUseBytes);

        // The same engine still takes a good checkpoint afterwards.
        using var good = new TempDirectory();
        _ = new TinyCheckpoint(good.Path, TinyCheckpoint.ErnieJson);
        using var model = ModelLoader.Load(engine, good.Path, QuantConfig.Parse("bf16", "test", true));
        Assert.Equal(model.Layers.Count, engine.Layers.Count);
    }

    private static void Edit(string kind, string tensor, List<(string Name, string DType, long[] Shape, float[] Values)> list)
    {
        int at = list.FindIndex(t => t.Name == tensor);
        switch (kind)
        {
            case "missing":
                list.RemoveAt(at);
                break;
            case "shape":
                list[at] = (tensor, "BF16", new long[] { 64, 65 }, new float[64 * 65]);
                break;
            case "extra":
                list.Add((tensor, "BF16", new long[] { 2, 2 }, new float[] { 1, 2, 3, 4 }));
                break;
            case "dtype":
                list[at] = (tensor, "I32", list[at].Shape, list[at].Values);
                break;
        }
    }
}
