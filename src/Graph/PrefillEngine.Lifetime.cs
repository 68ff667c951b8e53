using System.Diagnostics;
using System.Text;
using GraphEngine.Kernels;
using GraphEngine.Layers;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Graph;

// Lifetime: graphs first, then the layers, activations, pool and stream.
public sealed partial class PrefillEngine
{
    private void DisposeGraphs()
    {
        foreach (var u in _plan) u.DisposeGraphs();
        _plan = BuildPlan(Array.Empty<Unit>());
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Destroys every graph, then the layers, the activations, the pool and the stream.</summary>
    public void Dispose()
    {
        if (_disposed) return;
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
}
