namespace GraphEngine.Graph.Conformance;

/// <summary>Conformance cases of the Moe area.</summary>
public static class MoeCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        yield break;
    }
}
