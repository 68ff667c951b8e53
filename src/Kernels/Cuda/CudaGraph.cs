using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// An instantiated CUDA graph. The CUgraph is kept for <see cref="NodeCount"/> and as the source of the
/// exec; an update replaces both in this same object, so callers holding it keep a valid graph.
/// </summary>
public sealed unsafe class CudaGraph : DeviceGraph
{
    private readonly CudaDevice _device;
    private GraphHandle _graph;
    private GraphExecHandle? _exec;
    private int _nodeCount;
    private bool _disposed;
    private IntPtr _splitKStream;
    private object? _splitKHold;

    internal CudaGraph(CudaDevice device, GraphHandle graph)
    {
        _device = device;
        _graph = graph;
        try
        {
            Instantiate();
        }
        catch
        {
            graph.Dispose();
            throw;
        }
        device.Track(CudaDevice.OwnedKind.Graph, this);
    }

    /// <inheritdoc/>
    public override int NodeCount => _nodeCount;

    /// <summary>How the last <see cref="ComputeStream.EndCapture"/> into this graph was applied.</summary>
    public bool LastUpdateReinstantiated { get; private set; }

    /// <summary>Captures applied to this graph after its first, through cuGraphExecUpdate or re-instantiation.</summary>
    public int UpdateCount { get; private set; }

    private void Instantiate()
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        IntPtr exec;
        CudaException.ThrowIfFailed(CuDriver.cuGraphInstantiateWithFlags(&exec, _graph.Value, 0));
        _exec = new GraphExecHandle(exec, _device.ContextHandle);
        InstantiateTime = sw.Elapsed;
        _nodeCount = CountNodes(_graph.Value);
    }

    private static int CountNodes(IntPtr graph)
    {
        nuint n = 0;
        CudaException.ThrowIfFailed(CuDriver.cuGraphGetNodes(graph, null, &n));
        return (int)n;
    }

    /// <summary>The hold on the split-K scratch of the stream it was captured on, when its kernels use it (SplitKScratch); else null.</summary>
    internal object? SplitKHold => _splitKHold;

    /// <summary>Keeps the capturing stream's split-K scratch until this graph is disposed.</summary>
    internal void HoldSplitKScratch(IntPtr streamHandle, object hold)
    {
        // Updated from a capture on another stream: the earlier stream's scratch is no longer this graph's.
        if (_splitKHold is not null && !ReferenceEquals(_splitKHold, hold)) _device.ReleaseGraphScratch(_splitKStream, _splitKHold);
        _splitKStream = streamHandle;
        _splitKHold = hold;
    }

    /// <summary>Updates the exec in place from a fresh capture; re-instantiates when the driver refuses.</summary>
    internal void Update(GraphHandle fresh)
    {
        if (_disposed)
        {
            fresh.Dispose();
            throw new ObjectDisposedException(nameof(CudaGraph));
        }
        _device.EnsureCurrent();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        CuDriver.CUgraphExecUpdateResultInfo info;
        int st = CuDriver.cuGraphExecUpdate(_exec!.Value, fresh.Value, &info);
        var old = _graph;
        _graph = fresh;
        old.Dispose();
        UpdateCount++;
        if (st == 0)
        {
            LastUpdateReinstantiated = false;
            InstantiateTime = sw.Elapsed;
            _nodeCount = CountNodes(_graph.Value);
            return;
        }
        // Topology or node kinds changed (CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE): build a new exec here.
        _device.Logger?.LogDebugUpdateRefused(CudaException.DescribeName(st), info.Result);
        _exec.Dispose();
        _exec = null;
        Instantiate();
        LastUpdateReinstantiated = true;
    }

    /// <inheritdoc/>
    public override void Launch(ComputeStream stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (stream is not CudaStream cs || !ReferenceEquals(cs.Device, _device))
            throw new ArgumentException($"a CUDA graph of {_device.Info.Name} cannot launch on {stream.GetType().Name} of {stream.Device.Info.Name}", nameof(stream));
        _device.EnsureCurrent();
        CudaException.ThrowIfFailed(CuDriver.cuGraphLaunch(_exec!.Value, cs.Handle));
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.Untrack(CudaDevice.OwnedKind.Graph, this);
        _exec?.Dispose();      // the exec before the graph it came from
        _graph.Dispose();
        if (_splitKHold is not null) _device.ReleaseGraphScratch(_splitKStream, _splitKHold);
    }
}
