namespace GraphEngine.Kernels;

/// <summary>Base of every error the engine raises on purpose.</summary>
public class GraphEngineException : Exception
{
    public GraphEngineException(string message) : base(message) { }
    public GraphEngineException(string message, Exception inner) : base(message, inner) { }
}
