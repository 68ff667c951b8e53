namespace GraphEngine.Kernels;

/// <summary>A point in a stream's timeline, for GPU timing.</summary>
public abstract class DeviceEvent : IDisposable
{
    public abstract void Record(ComputeStream stream);
    public abstract void Synchronize();

    /// <summary>Milliseconds between two recorded events (both must have completed).</summary>
    public abstract float ElapsedMillisecondsSince(DeviceEvent start);
    public abstract void Dispose();
}
