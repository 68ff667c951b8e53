namespace GraphEngine.Graph.Conformance;

/// <summary>Conformance cases of the Format area.</summary>
public static class FormatCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        yield break;
    }
}
