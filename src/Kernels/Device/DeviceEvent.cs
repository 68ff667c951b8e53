namespace GraphEngine.Kernels;

/// <summary>A point in a stream's timeline, for GPU timing.</summary>
public abstract class DeviceEvent : IDisposable
{
    /// <summary>Records the event on <paramref name="stream"/>: it completes when the work enqueued before it has.</summary>
    public abstract void Record(ComputeStream stream);
    /// <summary>Blocks until the event has completed.</summary>
    public abstract void Synchronize();

    /// <summary>Milliseconds between two recorded events (both must have completed).</summary>
    public abstract float ElapsedMillisecondsSince(DeviceEvent start);
    /// <summary>Destroys the event.</summary>
    public abstract void Dispose();
}
