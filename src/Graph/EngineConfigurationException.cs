using GraphEngine.Kernels;

namespace GraphEngine.Graph;

/// <summary>A configuration value that cannot be used; the message names the value and where it came from.</summary>
public sealed class EngineConfigurationException : GraphEngineException
{
    public EngineConfigurationException(string message) : base(message) { }
    public EngineConfigurationException(string message, Exception inner) : base(message, inner) { }
}
