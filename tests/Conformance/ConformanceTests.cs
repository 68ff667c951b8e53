using GraphEngine.Conformance;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Tests.Conformance;

/// <summary>
/// Runs every CI-tier conformance case on the reference backend: the same cases `graphengine check`
/// runs on the GPU, so CI exercises every engine path the GPU does.
/// </summary>
public class ConformanceTests
{
    public static TheoryData<string> CiCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in ConformanceSuite.Select(null, CaseTier.Ci)) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(CiCases))]
    public void Case_passes_on_reference_backend(string name)
    {
        var c = ConformanceSuite.All.Single(x => x.Name == name);
        using var device = new ReferenceDevice();
        var result = ConformanceSuite.RunOne(c, device);
        Assert.True(result.Passed, result.Detail);
    }
}
