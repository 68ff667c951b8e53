using GraphEngine.Kernels;

namespace GraphEngine.Graph;

/// <summary>A configuration value that cannot be used; the message names the value and where it came from.</summary>
public sealed class EngineConfigurationException : GraphEngineException
{
    /// <summary>A configuration error with <paramref name="message"/>, which names the value and its source.</summary>
    public EngineConfigurationException(string message) : base(message) { }
    /// <summary>A configuration error with <paramref name="message"/> caused by <paramref name="inner"/> (a parse failure).</summary>
    public EngineConfigurationException(string message, Exception inner) : base(message, inner) { }
}
