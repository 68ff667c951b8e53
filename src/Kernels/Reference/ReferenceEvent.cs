namespace GraphEngine.Kernels.Reference;

/// <summary>Reference streams complete work as it is enqueued, so an event is a host timestamp.</summary>
public sealed class ReferenceEvent : DeviceEvent
{
    private long _ticks;

    /// <inheritdoc/>
    public override void Record(ComputeStream stream)
    {
        if (stream is ReferenceStream rs) rs.Enqueue(() => _ticks = System.Diagnostics.Stopwatch.GetTimestamp());
        else throw new ArgumentException("reference event on a non-reference stream", nameof(stream));
    }

    /// <inheritdoc/>
    public override void Synchronize() { }

    /// <inheritdoc/>
    public override float ElapsedMillisecondsSince(DeviceEvent start) =>
        (float)((_ticks - ((ReferenceEvent)start)._ticks) * 1000.0 / System.Diagnostics.Stopwatch.Frequency);

    /// <inheritdoc/>
    public override void Dispose() { }
}
