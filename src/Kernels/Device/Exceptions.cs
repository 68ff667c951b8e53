namespace GraphEngine.Kernels;

/// <summary>Base of every error the engine raises on purpose.</summary>
public class GraphEngineException : Exception
{
    public GraphEngineException(string message) : base(message) { }
    public GraphEngineException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>An operation that is illegal while a stream is capturing (synchronize, allocate, host copy).</summary>
public sealed class StreamCaptureException : GraphEngineException
{
    public StreamCaptureException(string message) : base(message) { }
}

/// <summary>No device of the requested kind could be opened (no driver, no GPU, missing library).</summary>
public sealed class DeviceUnavailableException : GraphEngineException
{
    public DeviceUnavailableException(string message) : base(message) { }
    public DeviceUnavailableException(string message, Exception inner) : base(message, inner) { }
}
