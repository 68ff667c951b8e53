using GraphEngine.Kernels;

namespace GraphEngine.Graph;

// Lifetime: graphs first, then the layers, activations, pool and stream.
public sealed partial class PrefillEngine
{
    private void DisposeGraphs()
    {
        foreach (var u in _plan) u.DisposeGraphs();
        _plan = BuildPlan(Array.Empty<Unit>());
    }

    /// <summary>Refuses work once this engine, or the device it runs on, is disposed.</summary>
    private void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Device.IsDisposed)
            throw new ObjectDisposedException(nameof(PrefillEngine), "the engine's device was disposed; dispose the engine before its device");
    }

    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>Destroys every graph, then the layers, the activations, the pool and the stream.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        // Freed under a step, capture or build in progress, its graphs and layers would run on freed memory.
        using var _ = Enter(nameof(Dispose));
        _disposed = true;
        foreach (var u in _plan) u.DisposeGraphs();
        _plan = Array.Empty<Unit>();
        for (int i = _slots.Count - 1; i >= 0; i--) _slots[i].Layer.Dispose();
        _slots.Clear();
        _slotOf.Clear();
        _layers.Clear();
        foreach (var b in _activations) b.Dispose();
        _activations.Clear();
        _tokenCount.Dispose();
        Pool.Dispose();
        Stream.Dispose();
    }

    /// <summary>What the engine holds now (layers, activations), for undoing a build that fails part-way.</summary>
    public readonly record struct BuildMark(int Layers, int Activations);

    /// <summary>Marks the current layers and activations; <see cref="RollbackTo"/> returns to the mark.</summary>
    public BuildMark Mark()
    {
        ThrowIfDisposed();
        return new BuildMark(_slots.Count, _activations.Count);
    }

    /// <summary>
    /// Disposes and detaches every layer and activation added after <paramref name="mark"/> (newest first),
    /// so a failed build leaves the engine and its pool as they were. Graphs are dropped when layers go.
    /// </summary>
    public void RollbackTo(BuildMark mark)
    {
        if (_disposed) return;
        if (mark.Layers < 0 || mark.Layers > _slots.Count || mark.Activations < 0 || mark.Activations > _activations.Count)
            throw new ArgumentOutOfRangeException(nameof(mark), mark, $"not a mark of this engine ({_slots.Count} layers, {_activations.Count} activations)");
        if (mark.Layers == _slots.Count && mark.Activations == _activations.Count) return;
        using var _ = Enter(nameof(RollbackTo));
        if (mark.Layers < _slots.Count)
        {
            if (_captured)
            {
                DisposeGraphs();
                _captured = false;
            }
            for (int i = _slots.Count - 1; i >= mark.Layers; i--)
            {
                var layer = _slots[i].Layer;
                _slotOf.Remove(layer);
                _layers.RemoveAt(i);
                _slots.RemoveAt(i);
                layer.Dispose();
            }
            _plan = BuildPlan(Array.Empty<Unit>());
        }
        for (int i = _activations.Count - 1; i >= mark.Activations; i--)
        {
            _activations[i].Dispose();
            _activations.RemoveAt(i);
        }
    }
}
