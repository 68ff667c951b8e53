using GraphEngine.Kernels;

namespace GraphEngine.Conformance;

/// <summary>Where a case runs: Ci cases are small enough for the reference backend in CI; Full cases
/// (large shapes) run only in `graphengine check`.</summary>
public enum CaseTier { Ci, Full }

/// <summary>The outcome of one case: passed or not, and the measured figure against its bound.</summary>
public sealed record CaseResult(bool Passed, string Detail)
{
    public static CaseResult Pass(string detail) => new(true, detail);
    public static CaseResult Fail(string detail) => new(false, detail);

    /// <summary>Combines sub-checks: passes only if all pass; details joined.</summary>
    public static CaseResult All(params CaseResult[] parts) =>
        new(parts.All(p => p.Passed), string.Join("; ", parts.Select(p => p.Detail)));
}

/// <summary>
/// One conformance case: runs a kernel, layer or graph path on a device and compares it with a
/// float64 (or exact) reference. The same list drives `graphengine check` on the GPU and the xunit
/// tests on the reference backend.
/// </summary>
public sealed record ConformanceCase(string Name, string Area, Func<Device, CaseResult> Run, CaseTier Tier = CaseTier.Ci)
{
    /// <summary>
    /// The kernel variants the case runs on a GPU (see <see cref="KernelVariants"/>), computed from its shapes by the
    /// launchers' own rules for a target; null when it runs no kernel with a shape- or architecture-dependent choice
    /// (or none that the case is there to reach: quantizer bytes, capture refusals).
    /// </summary>
    public Func<LaunchTarget, IReadOnlyList<string>>? Variants { get; init; }

    /// <summary>
    /// Whether the case observes device-wide state (the device's allocated bytes), so must run with no other case
    /// beside it. Cases of the kernel areas otherwise run several at once (<see cref="Concurrent"/>).
    /// </summary>
    public bool Exclusive { get; init; }

    /// <summary>
    /// Whether `check` may run the case beside others: the kernel areas (dense, moe, lowprec), whose cases own their
    /// streams, buffers and weights and compare only their own outputs; graph, device and format cases, which measure
    /// engine- or device-wide state (memory levels, capture, the kernel cache), run alone.
    /// </summary>
    public bool Concurrent => !Exclusive && Area is "dense" or "moe" or "lowprec";

    /// <summary><see cref="Variants"/> on <paramref name="target"/>, empty when the case declares none.</summary>
    public IReadOnlyList<string> VariantsOn(LaunchTarget target) => Variants?.Invoke(target) ?? Array.Empty<string>();

    public override string ToString() => Name;
}
