namespace GraphEngine.Kernels;

/// <summary>No device of the requested kind could be opened (no driver, no GPU, missing library).</summary>
public sealed class DeviceUnavailableException : GraphEngineException
{
    /// <summary>No usable device, for the reason in <paramref name="message"/>.</summary>
    public DeviceUnavailableException(string message) : base(message) { }
    /// <summary>No usable device, for the reason in <paramref name="message"/>, found through <paramref name="inner"/>.</summary>
    public DeviceUnavailableException(string message, Exception inner) : base(message, inner) { }
}
