namespace GraphEngine.Kernels;

/// <summary>An instantiated, launchable graph.</summary>
public abstract class DeviceGraph : IDisposable
{
    /// <summary>Nodes (kernels, copies, memsets) in the graph.</summary>
    public abstract int NodeCount { get; }

    /// <summary>Time spent instantiating (or updating) the executable graph.</summary>
    public TimeSpan InstantiateTime { get; protected internal set; }

    /// <summary>Enqueues one replay of the graph on <paramref name="stream"/>.</summary>
    public abstract void Launch(ComputeStream stream);
    /// <summary>Destroys the graph and its exec.</summary>
    public abstract void Dispose();
}
