namespace GraphEngine.Graph.Conformance;

/// <summary>Conformance cases of the Dense area.</summary>
public static class DenseCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        yield break;
    }
}
