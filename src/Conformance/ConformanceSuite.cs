using GraphEngine.Kernels;

namespace GraphEngine.Conformance;

/// <summary>Every conformance case of the engine, grouped by area (one file per area).</summary>
public static class ConformanceSuite
{
    public static IReadOnlyList<ConformanceCase> All { get; } = Build();

    private static List<ConformanceCase> Build()
    {
        var cases = new List<ConformanceCase>();
        cases.AddRange(DeviceCases.Cases());
        cases.AddRange(FormatCases.Cases());
        cases.AddRange(DenseCases.Cases());
        cases.AddRange(MoeCases.Cases());
        cases.AddRange(GroupGemmCases.Cases());
        cases.AddRange(LowPrecisionCases.Cases());
        cases.AddRange(LowPrecisionCases.Int8ActivationCases());
        cases.AddRange(GraphCases.Cases());
        var dup = cases.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidOperationException($"duplicate conformance case name '{dup.Key}'");
        return cases;
    }

    /// <summary>Cases whose name contains any of the comma-separated filters (case-insensitive).</summary>
    public static IEnumerable<ConformanceCase> Select(string? filter, CaseTier maxTier = CaseTier.Full)
    {
        var parts = (filter ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return All.Where(c => c.Tier <= maxTier &&
            (parts.Length == 0 || parts.Any(p => c.Name.Contains(p, StringComparison.OrdinalIgnoreCase))));
    }

    /// <summary>Runs a case, turning an exception into a failure that carries its message.</summary>
    public static CaseResult RunOne(ConformanceCase c, Device device)
    {
        try
        {
            return c.Run(device);
        }
        catch (Exception e)
        {
            return CaseResult.Fail($"{e.GetType().Name}: {e.Message}");
        }
    }
}
