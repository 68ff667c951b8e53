namespace GraphEngine.Kernels;

/// <summary>An operation that is illegal while a stream is capturing (synchronize, allocate, host copy).</summary>
public sealed class StreamCaptureException : GraphEngineException
{
    /// <summary>An operation refused during capture, described by <paramref name="message"/>.</summary>
    public StreamCaptureException(string message) : base(message) { }
}
