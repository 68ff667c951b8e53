namespace GraphEngine.Graph.Conformance;

/// <summary>Conformance cases of the LowPrecision area.</summary>
public static class LowPrecisionCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        yield break;
    }
}
