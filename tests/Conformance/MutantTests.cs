using System.Text.RegularExpressions;
using GraphEngine.Conformance;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Conformance;

/// <summary>
/// The mutant catalog against the embedded kernel sources (every define is where the catalog says, every
/// family is covered, an undefined mutant leaves the code as it was), the mutant scope, and the runner on the
/// reference backend (every mutant with a reference twin is caught; CUDA-only ones are reported as such).
/// </summary>
public sealed class MutantTests
{
    private static IReadOnlyDictionary<string, string> Sources => KernelCompiler.EmbeddedSources;

    [Fact]
    public void Every_define_appears_as_an_if_defined_in_each_file_the_catalog_names()
    {
        foreach (var m in MutantCatalog.All)
        {
            Assert.StartsWith(KernelMutants.Prefix, m.Define);
            Assert.NotEmpty(m.Files);
            foreach (var f in m.Files)
            {
                Assert.True(Sources.ContainsKey(f), $"{m.Define}: no native/{f}");
                Assert.Matches(new Regex($@"^#if !?defined\({m.Define}\)\s*$", RegexOptions.Multiline), Sources[f]);
            }
        }
    }

    [Fact]
    public void Every_file_holding_a_define_is_compiled_by_the_mutants_sources()
    {
        foreach (var m in MutantCatalog.All)
            foreach (var f in m.Files)
                Assert.True(m.Sources.Any(s => Includes(s, f, new HashSet<string>())),
                    $"{m.Define}: {f} is neither one of its sources ({string.Join(", ", m.Sources)}) nor included by one");
    }

    /// <summary>Whether native/<paramref name="source"/> is <paramref name="file"/> or includes it, directly or through its headers.</summary>
    private static bool Includes(string source, string file, HashSet<string> seen)
    {
        if (source == file) return true;
        if (!seen.Add(source) || !Sources.TryGetValue(source, out var text)) return false;
        return Regex.Matches(text, "^#include \"([^\"]+)\"", RegexOptions.Multiline).Any(i => Includes(i.Groups[1].Value, file, seen));
    }

    [Fact]
    public void Every_kernel_family_has_a_mutant_and_the_gemms_have_several()
    {
        var covered = MutantCatalog.All.SelectMany(m => m.Sources).ToHashSet();
        var families = Sources.Keys.Where(k => k.EndsWith(".cu", StringComparison.Ordinal)).OrderBy(k => k).ToArray();
        Assert.NotEmpty(families);
        var uncovered = families.Where(f => !covered.Contains(f)).ToArray();
        Assert.True(uncovered.Length == 0, $"kernel sources without a mutant: {string.Join(", ", uncovered)}");
        foreach (var gemm in new[] { "gemm/weight_only_gemm.cu", "gemm/block_fp8_gemm.cu", "moe/group_gemm.cu", "moe/group_gemm_wgmma.cu", "moe/group_gemm_stream.cu" })
            Assert.True(MutantCatalog.All.Count(m => m.Sources.Contains(gemm)) >= 3, $"{gemm}: fewer than 3 mutants");
    }

    [Fact]
    public void Defines_are_unique_and_no_native_file_has_a_mutant_the_catalog_does_not_know()
    {
        Assert.Equal(MutantCatalog.All.Count, MutantCatalog.All.Select(m => m.Define).Distinct().Count());
        var known = MutantCatalog.All.Select(m => m.Define).ToHashSet();
        foreach (var (file, text) in Sources)
            foreach (Match token in Regex.Matches(text, @"GE_MUTANT_[A-Z0-9_]+"))
                Assert.True(known.Contains(token.Value), $"native/{file} has {token.Value}, which no catalog entry names");
    }

    [Fact]
    public void Undefined_mutants_select_the_original_code_only_through_if_defined_lines()
    {
        // A mutant name used anywhere but an #if (defined) / #if !defined line could change the code compiled
        // when it is undefined; on those lines an undefined name takes the #else branch or the original line.
        foreach (var (file, text) in Sources)
            foreach (var line in text.Split('\n').Where(l => l.Contains("GE_MUTANT_", StringComparison.Ordinal)))
                Assert.Matches(@"^#if !?defined\(GE_MUTANT_[A-Z0-9_]+\)\s*$", line);
    }

    [Fact]
    public void Every_case_filter_selects_cases_and_filters_select_mutants()
    {
        foreach (var m in MutantCatalog.All)
            Assert.True(ConformanceSuite.Select(m.CaseFilter).Any(), $"{m.Define}: filter '{m.CaseFilter}' selects no case");
        Assert.All(MutantCatalog.Select("rms_norm"), m => Assert.Equal("norm/rms_norm", m.Family));
        Assert.Single(MutantCatalog.Select("GE_MUTANT_SWIGLU_SWAP"));
        Assert.Empty(MutantCatalog.Select("no-such-mutant"));
        Assert.Equal(MutantCatalog.All.Count, MutantCatalog.Select(null).Count);
    }

    [Fact]
    public void Mutant_scope_is_exclusive_prefixed_counted_and_does_not_leak_to_other_flows()
    {
        var m = new KernelMutant("GE_MUTANT_TEST", new[] { "norm/rms_norm.cu" });
        Assert.Null(KernelMutants.Active);
        Assert.Throws<ArgumentException>(() => KernelMutants.Activate(new KernelMutant("NOT_A_MUTANT", Array.Empty<string>())));
        using (KernelMutants.Activate(m))
        {
            Assert.Same(m, KernelMutants.Active);
            Assert.Throws<InvalidOperationException>(() => KernelMutants.Activate(m));
            Assert.False(KernelMutants.IsActive("GE_MUTANT_OTHER"));
            Assert.Null(KernelMutants.ActiveFor("gemm/block_fp8_gemm.cu"));
            Assert.Equal(0, KernelMutants.Uses);
            Assert.True(KernelMutants.IsActive("GE_MUTANT_TEST"));
            Assert.Same(m, KernelMutants.ActiveFor("norm/rms_norm.cu"));
            Assert.Equal(2, KernelMutants.Uses);
            KernelMutant? onParallelWorker = null;
            Parallel.For(0, 4, i => { if (i == 3) onParallelWorker = KernelMutants.Active; });
            Assert.Same(m, onParallelWorker);   // flows into the case's parallel reference work
            KernelMutant? elsewhere = m;
            var t = new Thread(() => elsewhere = KernelMutants.Active);
            using (ExecutionContext.SuppressFlow()) t.Start();
            t.Join();
            Assert.Null(elsewhere);             // an unrelated thread never sees it
        }
        Assert.Null(KernelMutants.Active);
    }

    [Fact]
    public void Runner_on_the_reference_backend_catches_every_mutant_with_a_reference_twin()
    {
        using var device = new ReferenceDevice();
        var runner = new MutantRunner(device, CaseTier.Ci);
        var twins = MutantCatalog.All.Where(m => m.OnReference).ToArray();
        Assert.True(twins.Length >= 4);
        foreach (var m in twins)
        {
            var r = runner.Run(m);
            Assert.True(r.Outcome == MutantOutcome.Caught, $"{m.Define}: {r.Outcome}: {r.Detail}");
            Assert.NotNull(r.CaughtBy);
            Assert.True(r.Uses > 0, $"{m.Define} caught without being applied");
            // The catching case passes without the mutant: the catch is the mutant's doing.
            Assert.True(ConformanceSuite.RunOne(ConformanceSuite.All.Single(c => c.Name == r.CaughtBy), device).Passed);
        }
        var cudaOnly = MutantCatalog.All.First(m => !m.OnReference);
        Assert.Equal(MutantOutcome.NotApplicable, runner.Run(cudaOnly).Outcome);
        Assert.Null(KernelMutants.Active);
    }

    [Fact]
    public void A_mutant_that_no_selected_case_reaches_is_reported_not_reached_not_caught()
    {
        using var device = new ReferenceDevice();
        var runner = new MutantRunner(device, CaseTier.Ci);
        // The RMSNorm twin with cases that never run RMSNorm: nothing takes its branch.
        var misfiled = MutantCatalog.All.First(m => m.Define == "GE_MUTANT_RMSNORM_LAST_COLUMN") with { CaseFilter = "format/decode" };
        var r = runner.Run(misfiled);
        Assert.Equal(MutantOutcome.NotReached, r.Outcome);
        Assert.Equal(0, r.Uses);
        Assert.True(r.CasesRun > 0);
    }
}
