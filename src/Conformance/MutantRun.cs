using System.Diagnostics;
using GraphEngine.Kernels;

namespace GraphEngine.Conformance;

/// <summary>What a mutant run found.</summary>
public enum MutantOutcome
{
    /// <summary>A case failed with the mutant and passes without it.</summary>
    Caught,
    /// <summary>Every case that reaches the kernel passed with the mutant in it.</summary>
    Missed,
    /// <summary>No selected case fetched the mutated kernel (or took the reference's mutated branch): not tested at all.</summary>
    NotReached,
    /// <summary>The backend has no such bug to plant (a CUDA-only mutant on the reference backend).</summary>
    NotApplicable,
}

/// <summary>One mutant's result: the case that caught it (and its failure), or how many cases let it through.</summary>
public sealed record MutantResult(MutantSpec Mutant, MutantOutcome Outcome, string? CaughtBy, string Detail, int CasesRun, int Uses, double Seconds);

/// <summary>
/// Runs mutants against the conformance cases on one device. For each mutant it runs the cases that reach the
/// mutated kernel (ci-tier cases first), with the mutant active, and stops at the first failure that is confirmed by
/// the same case passing without the mutant (memoised per case), so a case that fails anyway, or a device left
/// broken by an earlier mutant, never counts as a catch.
/// </summary>
public sealed class MutantRunner
{
    private readonly Device _device;
    private readonly CaseTier _tier;
    private readonly Dictionary<string, CaseResult> _baseline = new(StringComparer.Ordinal);

    /// <summary>A runner over the cases of <paramref name="tier"/> and below on <paramref name="device"/>.</summary>
    public MutantRunner(Device device, CaseTier tier)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _tier = tier;
    }

    /// <summary>True when <paramref name="m"/> can be planted on <paramref name="kind"/>: every mutant on CUDA (NVRTC defines), those with a reference twin on the reference backend.</summary>
    public static bool AppliesTo(MutantSpec m, BackendKind kind) => kind == BackendKind.Cuda || m.OnReference;

    /// <summary>
    /// The cases a mutant runs: its filter within the runner's tier, the small ci-tier cases first (a run stops at the
    /// first catch, so the cheap cases should get the first chance; a missed mutant still runs them all, as one
    /// weight-only mutant did on the H200: 208 cases), each tier in suite order.
    /// </summary>
    public IReadOnlyList<ConformanceCase> CasesFor(MutantSpec m) => ConformanceSuite.Select(m.CaseFilter, _tier).OrderBy(c => c.Tier).ToArray();

    /// <summary>Runs one mutant (see the class summary).</summary>
    public MutantResult Run(MutantSpec m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var sw = Stopwatch.StartNew();
        if (!AppliesTo(m, _device.Kind))
            return new(m, MutantOutcome.NotApplicable, null, $"no {_device.Kind} twin (NVRTC define only)", 0, 0, 0);
        var cases = CasesFor(m);
        if (cases.Count == 0)
            return new(m, MutantOutcome.NotReached, null, $"case filter '{m.CaseFilter}' selects no {_tier}-tier case", 0, 0, sw.Elapsed.TotalSeconds);
        int run = 0, uses = 0;
        string? unconfirmed = null;
        foreach (var c in cases)
        {
            CaseResult r;
            using (KernelMutants.Activate(m.Mutant))
            {
                r = ConformanceSuite.RunOne(c, _device);
                uses += KernelMutants.Uses;
            }
            run++;
            if (r.Passed) continue;
            var clean = Baseline(c);
            if (clean.Passed)
                return new(m, MutantOutcome.Caught, c.Name, OneLine(r.Detail), run, uses, sw.Elapsed.TotalSeconds);
            unconfirmed ??= $"{c.Name} failed but fails without the mutant too ({OneLine(clean.Detail)})";
        }
        if (uses == 0)
            return new(m, MutantOutcome.NotReached, null, $"{run} cases ran and none used {string.Join(", ", m.Sources)}", run, 0, sw.Elapsed.TotalSeconds);
        return new(m, MutantOutcome.Missed, null, unconfirmed ?? $"all {run} cases passed with the mutant", run, uses, sw.Elapsed.TotalSeconds);
    }

    private CaseResult Baseline(ConformanceCase c)
    {
        if (!_baseline.TryGetValue(c.Name, out var r)) _baseline[c.Name] = r = ConformanceSuite.RunOne(c, _device);
        return r;
    }

    private static string OneLine(string s)
    {
        s = s.ReplaceLineEndings(" | ");
        return s.Length > 300 ? s[..300] + "..." : s;
    }
}
