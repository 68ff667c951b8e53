namespace GraphEngine.Kernels;

/// <summary>Base of every error the engine raises on purpose.</summary>
public class GraphEngineException : Exception
{
    /// <summary>An error described by <paramref name="message"/>.</summary>
    public GraphEngineException(string message) : base(message) { }
    /// <summary>An error described by <paramref name="message"/>, caused by <paramref name="inner"/>.</summary>
    public GraphEngineException(string message, Exception inner) : base(message, inner) { }
}
