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
        var noop = ReplayCheck.Compare(model, n, () => ReplayCheck.EagerStep(model, n), () => { });
        Assert.True(float.IsNaN(noop.MaxAbs));
        Assert.False(noop.Acceptable(bitExact: true));
        Assert.False(noop.Acceptable(bitExact: false));
    }

    [Fact]
    public void A_cuda_replay_may_differ_in_the_last_bits_but_not_beyond_the_suite_bound()
    {
        Assert.True(new ReplayDifference(0, 0).Acceptable(bitExact: true));
        Assert.False(new ReplayDifference(1e-3f, 1e-4).Acceptable(bitExact: true));     // the reference backend is exact
        Assert.True(new ReplayDifference(1e-3f, 1e-4).Acceptable(bitExact: false));     // another GEMM algorithm on a GPU
        Assert.False(new ReplayDifference(0.5f, 0.2).Acceptable(bitExact: false));      // a wrong replay
    }
}
