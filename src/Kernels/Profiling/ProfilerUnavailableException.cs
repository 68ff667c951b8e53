namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// CUPTI tracing cannot run here: libcupti is missing (the message lists every path tried), its API version has no
/// record layout this build knows, or CUPTI refused to enable tracing (the message names the CUPTI error).
/// </summary>
public sealed class ProfilerUnavailableException : GraphEngineException
{
    /// <summary>CUPTI cannot trace, for the reason in <paramref name="message"/>.</summary>
    public ProfilerUnavailableException(string message) : base(message) { }
    /// <summary>CUPTI cannot trace, for the reason in <paramref name="message"/>, found through <paramref name="inner"/>.</summary>
    public ProfilerUnavailableException(string message, Exception inner) : base(message, inner) { }
}
