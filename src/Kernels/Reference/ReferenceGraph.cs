namespace GraphEngine.Kernels.Reference;

/// <summary>A recorded list of operations; launching runs them in order.</summary>
public sealed class ReferenceGraph : DeviceGraph
{
    private Action[] _ops;
    private bool _disposed;

    internal ReferenceGraph(Action[] ops) => _ops = ops;

    /// <inheritdoc/>
    public override int NodeCount => _ops.Length;

    internal void Replace(List<Action> ops) => _ops = ops.ToArray();

    /// <inheritdoc/>
    public override void Launch(ComputeStream stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (stream is not ReferenceStream rs)
            throw new ArgumentException($"a reference graph cannot launch on {stream.GetType().Name}", nameof(stream));
        foreach (var op in _ops) rs.Enqueue(op);
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        _disposed = true;
        _ops = Array.Empty<Action>();
    }
}
