using GraphEngine.Conformance;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Tests.Conformance;

/// <summary>
/// The moe/stream cases do what their names promise on the H200: each weight format and layout has a case whose
/// GEMMs run the weight-streaming kernel with K split over several blocks (the ticketed reduction the GS mutants
/// break), and every case runs that kernel in at least one of its two GEMMs.
/// </summary>
public sealed class StreamCaseTests
{
    private static IEnumerable<(GroupGemmProblem Problem, ExpertWeights Weights)> Gemms(MoeCases.Spec spec)
    {
        var format = spec.Mode == QuantMode.None ? ExpertWeightFormat.Half : WeightOnlyMoeMethod.FormatOf(spec.Mode, spec.Group);
        var w = new ExpertWeights(format, default, default, default, spec.Group);
        var (gateUp, down) = Moe.ExpertProblems(spec.Options, spec.Padded);
        yield return (gateUp, w);
        yield return (down, w);
    }

    [Fact]
    public void Every_format_and_layout_has_a_case_that_splits_K()
    {
        var specs = MoeCases.StreamSpecs().ToArray();
        Assert.NotEmpty(specs);
        foreach (var (name, spec, _) in specs)
            Assert.True(Gemms(spec).Any(g => GroupGemmCuda.Stream(g.Problem, g.Weights, LaunchTarget.H200) is not null),
                $"{name}: neither GEMM streams the weights");
        var split = specs
            .Where(s => Gemms(s.Spec).Any(g => GroupGemmCuda.Stream(g.Problem, g.Weights, LaunchTarget.H200) is { Splits: > 1 }))
            .Select(s => (s.Spec.Mode, s.Spec.Group, s.Spec.Layout, s.Spec.Activation))
            .ToHashSet();
        foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
            foreach (var (mode, group) in new[] { (QuantMode.None, GroupSize.PerChannel), (QuantMode.WInt8, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.PerChannel), (QuantMode.WInt4, GroupSize.Of(128)) })
                Assert.Contains((mode, group, layout, DType.BF16), split);
        Assert.Contains((QuantMode.None, GroupSize.PerChannel, TokenLayout.PrefixSum, DType.F16), split);
        Assert.All(specs.Where(s => s.Graph), s => Assert.True(
            Gemms(s.Spec).Any(g => GroupGemmCuda.Stream(g.Problem, g.Weights, LaunchTarget.H200) is { Splits: > 1 }), $"{s.Name}: no split to replay"));
    }

    [Fact]
    public void The_stream_cases_run_half_weights_at_both_depths()
    {
        // The mutants run on the moe/stream cases, so both instances of the half kernel must be among them.
        var depths = MoeCases.StreamSpecs().SelectMany(s => Gemms(s.Spec))
            .Where(g => g.Weights.Format == ExpertWeightFormat.Half)
            .Select(g => GroupGemmCuda.Stream(g.Problem, g.Weights, LaunchTarget.H200))
            .Where(c => c is not null).Select(c => c!.Value.Depth).ToHashSet();
        Assert.Equal(new HashSet<int> { 2, 3 }, depths);
    }

    [Fact]
    public void The_stream_cases_are_the_suites_and_the_mutants_reach_them()
    {
        var names = MoeCases.StreamSpecs().Select(s => s.Name).ToArray();
        Assert.All(names, n => Assert.Contains(ConformanceSuite.All, c => c.Name == n));
        foreach (var m in MutantCatalog.All.Where(m => m.Family == "moe/group_gemm_stream"))
            Assert.All(m.CaseFilter.Split(','), f => Assert.Contains(names, n => n.Contains(f, StringComparison.Ordinal)));
    }
}
