using GraphEngine.Graph;
using GraphEngine.Hosting;
using GraphEngine.Models;
using Xunit;

namespace GraphEngine.Tests.Models;

/// <summary>The bytes a step's floor counts: every dense weight, every router and shared expert, and the experts the routing hit.</summary>
public class StepWeightBytesTests
{
    [Fact]
    public void The_last_step_counts_routers_shared_experts_and_the_experts_really_hit()
    {
        using var device = new ReferenceDevice();
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Enabled = false }, ModelPresets.Tiny.MaxTokens);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        var moes = model.Layers.OfType<Moe>().ToList();
        Assert.NotEmpty(moes);

        // Tiny: router 8 x 256 fp32 (+ an 8-value bias) and one shared expert of FFN 192 in bf16 per MoE layer.
        long fixedPerLayer = moes[0].FixedWeightBytes;
        Assert.True(fixedPerLayer >= 8 * 256 * 4 + 3L * 192 * 256 * 2, $"fixed bytes {fixedPerLayer}");
        Assert.Equal(moes.Count * fixedPerLayer, model.MoeFixedWeightBytes);

        const int n = 1;   // one token, top-2: exactly two experts per layer
        ReplayCheck.EagerStep(model, n);
        engine.Stream.Synchronize();
        var (bytes, meanHit) = model.LastStepWeightBytes();
        Assert.Equal(2.0, meanHit);
        double perExpert = moes.Sum(m => m.GateUp.WeightBytesPerExpert + m.Down.WeightBytesPerExpert);
        Assert.Equal(model.DenseWeightBytes + model.MoeFixedWeightBytes + 2.0 * perExpert, bytes);
        Assert.Equal(bytes, model.StepWeightBytes(2.0));
    }
}
