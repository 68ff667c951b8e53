using GraphEngine.Hosting.Reliability;

namespace GraphEngine.Tests.Reliability;

/// <summary>Every case of the fault matrix on the reference backend: the same cases `graphengine faults` runs on the GPU.</summary>
public class FaultMatrixTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in FaultMatrix.Cases) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fault_is_survived_on_reference_backend(string name)
    {
        var c = FaultMatrix.Cases.Single(x => x.Name == name);
        using var device = new ReferenceDevice();
        var outcome = FaultMatrix.Run(c, device);
        Assert.True(outcome.Survived, outcome.Detail);
        Assert.Null(device.Faults);
        Assert.Equal(0, device.AllocatedBytes);
    }

    [Fact]
    public void Matrix_covers_every_layer_kind_in_both_granularities_and_every_fault_point()
    {
        var names = FaultMatrix.Cases.Select(c => c.Name).ToHashSet();
        foreach (var kind in FaultLayerKind.All)
            foreach (var g in new[] { "Layer", "Segment" })
                Assert.Contains($"capture/layer/{kind.Name}/{g}", names);
        foreach (var prefix in new[] { "capture/begin/", "capture/end/", "oom/capture/", "oom/load/", "upload/load/", "compile/" })
            Assert.Contains(names, n => n.StartsWith(prefix, StringComparison.Ordinal));
    }
}
