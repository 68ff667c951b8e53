namespace GraphEngine.Kernels;

/// <summary>No device of the requested kind could be opened (no driver, no GPU, missing library).</summary>
public sealed class DeviceUnavailableException : GraphEngineException
{
    public DeviceUnavailableException(string message) : base(message) { }
    public DeviceUnavailableException(string message, Exception inner) : base(message, inner) { }
}
