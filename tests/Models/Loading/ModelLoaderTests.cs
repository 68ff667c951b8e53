using GraphEngine.Graph;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;
using GraphEngine.Tests.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Loading;

/// <summary>
/// ModelLoader on the reference backend against <see cref="Float64Oracle"/> from the weights the test wrote:
/// every engine layer on its own random bf16 input at n = 1, 7 and 11 (captured sizes 1, 8, 16: 7 and 11
/// replay padded), and the captured stack end to end. Tolerance: <see cref="ModelCheck.Float64Tolerance"/>
/// (1e-2 relative Frobenius; the reason is stated there: bf16 outputs and intermediates, fp32 accumulation).
/// </summary>
public class ModelLoaderTests
{
    internal static readonly int[] TokenCounts = { 1, 7, 11 };

    internal static PrefillEngine Engine(ReferenceDevice device) =>
        new(device, new BlockWiseGraphOptions { Sizes = new[] { 1, 8, 16 } }, maxTokens: 16);

    public static TheoryData<string, string, ExpertLayout> Models => new()
    {
        { "ernie", TinyCheckpoint.ErnieJson, ExpertLayout.PerExpert },
        { "ernie-fused", TinyCheckpoint.ErnieJson, ExpertLayout.Fused },
        { "qwen3-moe", TinyCheckpoint.Qwen3MoeJson, ExpertLayout.PerExpert },
        { "llama", TinyCheckpoint.LlamaJson, ExpertLayout.PerExpert },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_layer_matches_float64_from_the_written_weights(string name, string json, ExpertLayout layout)
    {
        using var dir = new TempDirectory();
        var ckpt = new TinyCheckpoint(dir.Path, json, layout: layout);
        using var device = new ReferenceDevice();
        using var engine = Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", ckpt.Model.IsMoe));
        Assert.Equal(layout, model.Layout);
        var oracle = new Float64Oracle(ckpt.Model, ckpt.Weight);

        var rows = ModelCheck.AgainstFloat64(model, oracle, TokenCounts);
        Assert.Equal(model.Layers.Count * TokenCounts.Length, rows.Count);
        // Identical selection: the fixed seed has no near-tie, so neither swaps nor mismatches are allowed.
        Assert.All(rows, r => Assert.True(r.Passed && r.Ties == 0, $"{name}: {r}"));
        Assert.Contains(rows, r => r.Sublayer.StartsWith("mlp", StringComparison.Ordinal));
    }

    [Fact]
    public void Layers_roles_and_extras_follow_the_checkpoint()
    {
        using var dir = new TempDirectory();
        var ckpt = new TinyCheckpoint(dir.Path, TinyCheckpoint.Qwen3MoeJson);
        using var device = new ReferenceDevice();
        using var engine = Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", true));
        Assert.Equal(2 * 5, model.Layers.Count);
        Assert.Equal(engine.Layers, model.Layers.Select(l => l.Layer));
        Assert.Equal("layers.1.mlp", model.Layer(1, LayerRole.Moe).Layer.Name);
        Assert.Contains("model.layers.1.self_attn.q_norm.weight", model.Extra.Keys);
        Assert.Contains(TensorNames.LmHead, model.Extra.Keys);
        Assert.Equal(ckpt.Model.QOut + 2 * ckpt.Model.KvOut, model.Qkv.Dim(1));
    }

    /// <summary>
    /// The captured stack end to end at a count between sizes: the float64 chain rounds each buffer to bf16
    /// where the engine stores it, so the bound is the per-layer one (the chain does not compound).
    /// </summary>
    [Theory]
    [InlineData(TinyCheckpoint.ErnieJson)]
    [InlineData(TinyCheckpoint.LlamaJson)]
    public void Captured_prefill_matches_the_float64_chain(string json)
    {
        using var dir = new TempDirectory();
        var ckpt = new TinyCheckpoint(dir.Path, json, seed: 11);
        using var device = new ReferenceDevice();
        using var engine = Engine(device);
        using var model = ModelLoader.Load(engine, dir.Path, QuantConfig.Parse("bf16", "test", ckpt.Model.IsMoe));
        engine.Capture();
        const int n = 11;
        var m = ckpt.Model;
        var rng = new Random(3);
        var h0 = ModelCheck.Random(rng, n * m.Hidden, 2f);
        var attn = ModelCheck.Random(rng, n * m.QOut, 1f);
        model.Input.SliceRows(0, n).UploadFloats(h0);
        model.AttentionOut.SliceRows(0, n).UploadFloats(attn);
        model.Output.Poison(engine.Stream);
        engine.Prefill(n);
        engine.Stream.Synchronize();
        var got = model.Output.SliceRows(0, n).DownloadFloats();

        var oracle = new Float64Oracle(m, ckpt.Weight);
        double[] R(double[] v) => v.Select(x => (double)Bf16.Round((float)x)).ToArray();
        double[] Add(double[] a, double[] b) => R(a.Zip(b, (x, y) => x + y).ToArray());
        var h = h0.Select(v => (double)v).ToArray();
        var att = attn.Select(v => (double)v).ToArray();
        double[] mlp = Array.Empty<double>();
        for (int i = 0; i < m.Layers; i++)
        {
            if (i > 0) h = Add(h, mlp);
            var o = R(oracle.OProj(i, att, n));
            h = Add(h, o);
            var normed = R(oracle.Norm(i, true, h, n));
            if (m.DecoderLayers[i].IsMoe)
            {
                var ids = LayerProbe.ChosenExperts(model.Layer(i, LayerRole.Moe), n);
                var r = oracle.Moe(i, normed, n, ids);
                Assert.Equal(0, r.Mismatches);
                mlp = R(r.Output);
            }
            else
            {
                int f = m.DecoderLayers[i].DenseFfn;
                mlp = R(oracle.DenseDown(i, R(Float64Oracle.SwiGlu(R(oracle.DenseGateUp(i, normed, n)), n, f)), n));
            }
        }
        double err = ModelCheck.RelativeFrobenius(mlp, got);
        Assert.True(err <= ModelCheck.Float64Tolerance, $"captured prefill at n={n}: rel err {err:E2}");
    }
}
