namespace GraphEngine.Kernels;

/// <summary>An operation that is illegal while a stream is capturing (synchronize, allocate, host copy).</summary>
public sealed class StreamCaptureException : GraphEngineException
{
    public StreamCaptureException(string message) : base(message) { }
}
