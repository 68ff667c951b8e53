using GraphEngine.Graph;
using GraphEngine.Hosting;
using GraphEngine.Models;
using Xunit;

namespace GraphEngine.Tests.Hosting;

/// <summary>`run`'s eager-vs-graph comparison: 0 only when the replay really computed the step.</summary>
public class ReplayCheckTests
{
    [Theory]
    [InlineData(Granularity.Segment, 7)]
    [InlineData(Granularity.Layer, 100)]
    public void A_real_replay_matches_and_a_replay_that_does_nothing_is_reported(Granularity granularity, int n)
    {
        using var device = new ReferenceDevice();
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 8, 128 }, Granularity = granularity },
            ModelPresets.Tiny.MaxTokens);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        engine.Capture();

        Assert.Equal(0f, ReplayCheck.MaxDifference(model, n, () => ReplayCheck.EagerStep(model, n), () => engine.Prefill(n)));
        // Without the poisoning, a no-op would read the eager step's output and report 0.
        Assert.True(float.IsNaN(ReplayCheck.MaxDifference(model, n, () => ReplayCheck.EagerStep(model, n), () => { })));
    }
}
