namespace GraphEngine.Graph.Conformance;

/// <summary>Conformance cases of the Graph area.</summary>
public static class GraphCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        yield break;
    }
}
