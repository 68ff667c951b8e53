namespace GraphEngine.Kernels;

/// <summary>An instantiated, launchable graph.</summary>
public abstract class DeviceGraph : IDisposable
{
    public abstract int NodeCount { get; }

    /// <summary>Time spent instantiating (or updating) the executable graph.</summary>
    public TimeSpan InstantiateTime { get; protected internal set; }

    public abstract void Launch(ComputeStream stream);
    public abstract void Dispose();
}
