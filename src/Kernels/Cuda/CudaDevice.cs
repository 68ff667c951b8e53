using System.Runtime.InteropServices;
using System.Text;
using GraphEngine.Kernels.Gemm;
using Microsoft.Extensions.Logging;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// A CUDA GPU through the driver API, on its primary context. Every entry point makes the context current
/// on the calling thread first, so any thread may drive the device. The device owns what it creates and
/// releases children before parents: graph execs and graphs, modules, cuBLASLt objects, streams and
/// events, allocations, then the primary context.
/// </summary>
public sealed unsafe class CudaDevice : Device
{
    private readonly int _ordinal;
    private readonly PrimaryContextHandle _context;
    private readonly DeviceInfo _info;
    private readonly ILogger? _logger;
    private readonly CudaStream _default;

    // Host copies run here, never captured, so they work while another thread captures on its own stream.
    private readonly CudaStream _transfer;

    // Held while synchronizing every idle stream and while a stream begins capturing, so no stream can start
    // capturing in between (synchronizing a capturing stream would invalidate that thread's capture).
    internal readonly object CaptureGate = new();
    private readonly List<CudaStream> _streams = new();
    private readonly Dictionary<OwnedKind, HashSet<IDisposable>> _owned = new();
    private readonly Dictionary<ulong, DeviceAllocationHandle> _allocations = new();
    private readonly Dictionary<(string Source, string Name, string Defines), CudaKernel> _kernels = new();
    private readonly Dictionary<(string SourceName, string Source, string Name, string Defines), CudaKernel> _sourceKernels = new();
    private readonly List<ModuleHandle> _modules = new();
    private readonly object _lock = new();
    private KernelCompiler? _compiler;
    private string? _kernelCacheDirectory;
    private volatile bool _released;

    /// <summary>Children in the order they are released.</summary>
    internal enum OwnedKind { Graph, Blas, Event }

    private CudaDevice(int ordinal, ILogger? logger)
    {
        _ordinal = ordinal;
        _logger = logger;
        int dev;
        CudaException.ThrowIfFailed(CuDriver.cuDeviceGet(&dev, ordinal));
        IntPtr ctx;
        CudaException.ThrowIfFailed(CuDriver.cuDevicePrimaryCtxRetain(&ctx, dev));
        _context = new PrimaryContextHandle(ctx, dev);
        foreach (OwnedKind k in Enum.GetValues<OwnedKind>()) _owned[k] = new HashSet<IDisposable>();
        try
        {
            EnsureCurrent();
            _info = QueryInfo(dev);
            MaxSharedMemoryPerBlockOptin = Attribute(dev, CuDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
            // A created non-blocking stream: capture on the legacy NULL stream is illegal.
            _default = new CudaStream(this);
            _transfer = new CudaStream(this);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens GPU <paramref name="ordinal"/>. False with a reason when libcuda is missing, cuInit fails or
    /// there is no such device.
    /// </summary>
    public static bool TryOpen(int ordinal, ILogger? logger, out CudaDevice? device, out string reason)
    {
        device = null;
        if (!Libraries.TryLoad(Libraries.CuDriver, out reason)) return false;
        try
        {
            int st = CuDriver.cuInit(0);
            if (st != 0)
            {
                reason = $"cuInit failed: {CudaException.DescribeName(st)} ({st}): {CudaException.DescribeText(st)}";
                return false;
            }
            int count;
            st = CuDriver.cuDeviceGetCount(&count);
            if (st != 0)
            {
                reason = $"cuDeviceGetCount failed: {CudaException.DescribeName(st)}";
                return false;
            }
            if (count == 0)
            {
                reason = "the CUDA driver reports 0 devices";
                return false;
            }
            if (ordinal < 0 || ordinal >= count)
            {
                reason = $"device ordinal {ordinal} is out of range: the driver reports {count} device(s)";
                return false;
            }
            device = new CudaDevice(ordinal, logger);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is GraphEngineException or DllNotFoundException or EntryPointNotFoundException)
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>Opens GPU <paramref name="ordinal"/>, logging to <paramref name="logger"/>; <see cref="DeviceUnavailableException"/> with the reason when there is no usable driver or device.</summary>
    public static CudaDevice Open(int ordinal, ILogger? logger) =>
        TryOpen(ordinal, logger, out var d, out string reason) ? d! : throw new DeviceUnavailableException($"CUDA device {ordinal}: {reason}");

    /// <inheritdoc/>
    public override BackendKind Kind => BackendKind.Cuda;
    /// <inheritdoc/>
    public override DeviceInfo Info => _info;
    /// <summary>The CUDA device ordinal.</summary>
    public int Ordinal => _ordinal;
    /// <inheritdoc/>
    public override ComputeStream DefaultStream => _default;

    /// <summary>
    /// When true, <see cref="Device.Dispose"/> ends by resetting the device's primary context (cuDevicePrimaryCtxReset), which
    /// destroys it even while another library of the process (cuBLASLt's runtime) still holds a reference, and frees
    /// whatever was left on it. compute-sanitizer's leak check reports at context destruction, so a process run under it
    /// sets this before it exits. Leave it false where anything else in the process may still use the GPU.
    /// </summary>
    public bool ResetContextOnDispose { get; set; }

    /// <summary>Largest dynamic shared memory a block may opt into (cuFuncSetAttribute).</summary>
    public int MaxSharedMemoryPerBlockOptin { get; }

    /// <summary>What the launchers' variant rules read of this GPU.</summary>
    public LaunchTarget LaunchTarget => new(Info.ComputeMajor, Info.ComputeMinor, Info.SmCount, MaxSharedMemoryPerBlockOptin);

    internal IntPtr ContextHandle => _context.Value;
    internal ILogger? Logger => _logger;

    /// <summary>Makes this device's context current on the calling thread (cheap when it already is).</summary>
    internal void EnsureCurrent()
    {
        ThrowIfDisposed();
        CudaContext.MakeCurrent(_context.Value);
    }

    private static DeviceInfo QueryInfo(int dev)
    {
        byte* name = stackalloc byte[256];
        CudaException.ThrowIfFailed(CuDriver.cuDeviceGetName(name, 256, dev));
        nuint total;
        CudaException.ThrowIfFailed(CuDriver.cuDeviceTotalMem(&total, dev));
        int driver;
        CudaException.ThrowIfFailed(CuDriver.cuDriverGetVersion(&driver));
        return new DeviceInfo(
            BackendKind.Cuda,
            Marshal.PtrToStringUTF8((IntPtr)name) ?? $"CUDA device {dev}",
            Attribute(dev, CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            Attribute(dev, CuDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            Attribute(dev, CuDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            (long)total,
            Attribute(dev, CuDriver.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
            $"{driver / 1000}.{driver % 1000 / 10}");
    }

    private static int Attribute(int dev, int attribute)
    {
        int v;
        CudaException.ThrowIfFailed(CuDriver.cuDeviceGetAttribute(&v, attribute, dev));
        return v;
    }

    /// <summary>Free and total device memory, as the driver reports them.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        EnsureCurrent();
        nuint free, total;
        CudaException.ThrowIfFailed(CuDriver.cuMemGetInfo(&free, &total));
        return ((long)free, (long)total);
    }

    /// <summary>Graph instantiation takes device memory our allocator never sees; the driver's free count does.</summary>
    public override bool TryGetFreeMemory(out long freeBytes)
    {
        freeBytes = MemoryInfo().Free;
        return true;
    }

    // ----- streams, events, ownership -----

    /// <inheritdoc/>
    public override ComputeStream CreateStream()
    {
        EnsureCurrent();
        return new CudaStream(this);
    }

    /// <inheritdoc/>
    public override DeviceEvent CreateEvent()
    {
        EnsureCurrent();
        return new CudaEvent(this);
    }

    internal void TrackStream(CudaStream s)
    {
        lock (_lock) _streams.Add(s);
    }

    internal void UntrackStream(CudaStream s)
    {
        CublasLtMatmul? matmul;
        SplitKScratch? splitK;
        lock (_lock)
        {
            _streams.Remove(s);
            matmul = _matmul;
            splitK = _splitK;
        }
        matmul?.ReleaseStream(s.Handle);
        splitK?.ReleaseStream(s.Handle);
    }

    private SplitKScratch? _splitK;

    /// <summary>The device's per-stream split-K scratch, made on first use (by a launcher's constructor, so that
    /// BeginCapture allocates it for the capturing stream before the capture starts).</summary>
    internal SplitKScratch SplitK
    {
        get
        {
            lock (_lock)
            {
                ThrowIfDisposed();
                if (_splitK is null)
                {
                    _splitK = new SplitKScratch(this);
                    _owned[OwnedKind.Blas].Add(_splitK);
                }
                return _splitK;
            }
        }
    }

    private CublasLtMatmul? _matmul;

    /// <summary>The device's shared cuBLASLt state (handle, plans, per-stream workspaces), made on first use.</summary>
    internal CublasLtMatmul Matmul
    {
        get
        {
            lock (_lock)
            {
                ThrowIfDisposed();
                if (_matmul is null)
                {
                    _matmul = new CublasLtMatmul(this);
                    _owned[OwnedKind.Blas].Add(_matmul);
                }
                return _matmul;
            }
        }
    }

    internal void Track(OwnedKind kind, IDisposable child)
    {
        lock (_lock) _owned[kind].Add(child);
    }

    internal void Untrack(OwnedKind kind, IDisposable child)
    {
        lock (_lock) _owned[kind].Remove(child);
    }

    /// <summary>True when a stream of this device is capturing on the calling thread (thread-local capture).</summary>
    public override bool AnyStreamCapturing
    {
        get
        {
            int me = Environment.CurrentManagedThreadId;
            lock (_lock)
                foreach (var s in _streams)
                    if (s.IsCapturing && s.CaptureThread == me) return true;
            return false;
        }
    }

    // ----- memory -----

    /// <inheritdoc/>
    protected override DevicePtr AllocRaw(long bytes)
    {
        EnsureCurrent();
        ulong p;
        int st = CuDriver.cuMemAlloc(&p, (nuint)bytes);
        if (st != 0)
        {
            var e = CudaException.Create(st, $"cuMemAlloc_v2({bytes} bytes)");
            throw new OutOfMemoryException($"{Info.Name}: {e.Message} ({AllocatedBytes} bytes already allocated by this device)", e);
        }
        lock (_lock) _allocations[p] = new DeviceAllocationHandle(p, _context.Value);
        return new DevicePtr(p);
    }

    /// <inheritdoc/>
    protected override void FreeRaw(DevicePtr ptr)
    {
        DeviceAllocationHandle? h;
        lock (_lock)
            if (!_allocations.Remove(ptr.Address, out h))
            {
                if (_released) return;   // the device already freed it on Dispose
                throw new InvalidOperationException($"{ptr} is not a live allocation of {Info.Name}");
            }
        h.Dispose();
    }

    /// <summary>Completes the work of every stream (so its results are visible), then copies synchronously.</summary>
    public override void CopyToDevice(DevicePtr dst, ReadOnlySpan<byte> src)
    {
        ThrowIfCapturing("copy host to device");
        EnsureCurrent();
        if (src.IsEmpty) return;
        Faults?.Check(Diagnostics.FaultPoint.Upload, $"{src.Length} bytes");
        SynchronizeIdleStreams();
        // Async on our own stream and then wait for it: from pageable memory the synchronous copy may return
        // before its DMA has landed, on the legacy stream that our non-blocking streams never wait for.
        fixed (byte* p = src)
            CudaException.ThrowIfFailed(CuDriver.cuMemcpyHtoDAsync(dst.Address, p, (nuint)src.Length, _transfer.Handle));
        CudaException.ThrowIfFailed(CuDriver.cuStreamSynchronize(_transfer.Handle));
    }

    /// <inheritdoc/>
    public override void CopyToHost(Span<byte> dst, DevicePtr src)
    {
        ThrowIfCapturing("copy device to host");
        EnsureCurrent();
        if (dst.IsEmpty) return;
        SynchronizeIdleStreams();
        fixed (byte* p = dst)
            CudaException.ThrowIfFailed(CuDriver.cuMemcpyDtoHAsync(p, src.Address, (nuint)dst.Length, _transfer.Handle));
        CudaException.ThrowIfFailed(CuDriver.cuStreamSynchronize(_transfer.Handle));
    }

    /// <summary>Waits for every stream of the device that is not capturing a graph.</summary>
    public override void Synchronize()
    {
        ThrowIfCapturing("synchronize the device");
        EnsureCurrent();
        SynchronizeIdleStreams();
    }

    /// <summary>
    /// cuCtxSynchronize is refused while any stream of the context captures, even another thread's in
    /// thread-local mode, so instead every stream not capturing is synchronized; a capturing stream has no
    /// work running, only work being recorded.
    /// </summary>
    private void SynchronizeIdleStreams()
    {
        lock (CaptureGate)
        {
            CudaStream[] streams;
            lock (_lock) streams = _streams.ToArray();
            foreach (var s in streams)
                if (!s.IsCapturing && !s.IsDisposed)
                    CudaException.ThrowIfFailed(CuDriver.cuStreamSynchronize(s.Handle));
        }
    }

    /// <summary>
    /// What a stream needs before it captures: the cuBLASLt workspace and the split-K scratch cannot be allocated inside.
    /// Returns whether the capture has a split-K scratch to account for (<see cref="EndCaptureScratch"/> or
    /// <see cref="AbortCaptureScratch"/> settle it), so a capture leaves memory as it found it apart from what its graph holds.
    /// </summary>
    internal bool PrepareCapture(CudaStream stream)
    {
        CublasLtMatmul? matmul;
        SplitKScratch? splitK;
        lock (_lock)
        {
            matmul = _matmul;
            splitK = _splitK;
        }
        matmul?.EnsureWorkspace(stream);
        if (splitK is null) return false;
        splitK.Prepare(stream);
        return true;
    }

    /// <summary>After an instantiated capture: the hold its graph takes on the stream's split-K scratch (null when it does not use it); what nothing holds is freed.</summary>
    internal object? EndCaptureScratch(CudaStream stream, object? graphHold)
    {
        SplitKScratch? splitK;
        lock (_lock) splitK = _splitK;
        return splitK?.EndCapture(stream.Handle, graphHold);
    }

    /// <summary>After a failed capture: the split-K scratch nothing holds is freed.</summary>
    internal void AbortCaptureScratch(CudaStream stream)
    {
        SplitKScratch? splitK;
        lock (_lock) splitK = _splitK;
        splitK?.AbortCapture(stream.Handle);
    }

    /// <summary>A graph that held a stream's split-K scratch is disposed.</summary>
    internal void ReleaseGraphScratch(IntPtr streamHandle, object hold)
    {
        SplitKScratch? splitK;
        lock (_lock) splitK = _splitK;
        splitK?.ReleaseGraph(streamHandle, hold);
    }

    // ----- kernels -----

    /// <summary>
    /// Where compiled cubins are cached; null until set = GRAPHENGINE_KERNEL_CACHE, else the user's cache
    /// directory. Set it before the first <see cref="GetKernel"/>.
    /// </summary>
    public string? KernelCacheDirectory
    {
        get => _compiler?.CacheDirectory ?? _kernelCacheDirectory;
        set
        {
            lock (_lock)
            {
                if (_compiler is not null)
                    throw new InvalidOperationException($"kernel cache directory is already {_compiler.CacheDirectory}; set it before the first GetKernel");
                _kernelCacheDirectory = value;
            }
        }
    }

    /// <summary>The NVRTC compiler for this device's architecture (created on first use).</summary>
    public KernelCompiler Compiler
    {
        get
        {
            lock (_lock)
                return _compiler ??= new KernelCompiler(KernelCompiler.ArchitectureFor(_info.ComputeMajor, _info.ComputeMinor),
                    _kernelCacheDirectory, _logger);
        }
    }

    /// <summary>
    /// Compiles (or loads from the cubin cache) <paramref name="sourceFile"/> from native/ with the given
    /// defines and returns the kernel <paramref name="kernelName"/>: an extern "C" name or a template
    /// instantiation such as "rms_norm&lt;__nv_bfloat16, 8&gt;". Cached per (source, defines, name):
    /// A cache hit is a lock and a dictionary lookup, so launchers may fetch by name at each launch.
    /// The compile itself runs outside the device's lock, so other threads' kernels compile meanwhile.
    /// </summary>
    public CudaKernel GetKernel(string sourceFile, string kernelName, params KernelDefine[] defines)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceFile);
        ArgumentException.ThrowIfNullOrEmpty(kernelName);
        defines = WithMutant(sourceFile, defines ?? Array.Empty<KernelDefine>());
        // Launchers fetch by name on every launch and rely on this cache, so a hit without defines allocates nothing.
        var key = (sourceFile, kernelName, defines.Length == 0 ? "" : string.Join(" ", defines.Select(d => d.ToString())));
        // Before the in-memory lookup, so an armed compile fault fires whether or not the kernel was fetched before.
        if (Faults?.Match(Diagnostics.FaultPoint.Compile, kernelName) is { } fault) throw InjectedCompileFailure(fault, sourceFile, kernelName, defines);
        lock (_kernels)
            if (_kernels.TryGetValue(key, out var cached)) return cached;
        return LoadAndRemember(key, defines, Compiler.Compile(sourceFile, kernelName, defines));
    }

    /// <summary>
    /// <see cref="GetKernel"/> for several instances of <paramref name="sourceFile"/> at once: the ones not yet
    /// loaded compile in parallel (see <see cref="KernelCompiler.CompileAll"/>), so a launcher that needs several
    /// variants for one plan waits for the slowest compile instead of their sum. Results are in name order.
    /// </summary>
    public IReadOnlyList<CudaKernel> GetKernels(string sourceFile, IReadOnlyList<string> kernelNames, params KernelDefine[] defines)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceFile);
        ArgumentNullException.ThrowIfNull(kernelNames);
        defines = WithMutant(sourceFile, defines ?? Array.Empty<KernelDefine>());
        string joined = defines.Length == 0 ? "" : string.Join(" ", defines.Select(d => d.ToString()));
        // The same fault point as GetKernel, in request order, whether or not the kernels were fetched before.
        foreach (var name in kernelNames)
            if (Faults?.Match(Diagnostics.FaultPoint.Compile, name) is { } fault) throw InjectedCompileFailure(fault, sourceFile, name, defines);
        var result = new CudaKernel[kernelNames.Count];
        var missing = new List<int>();
        lock (_kernels)
            for (int i = 0; i < kernelNames.Count; i++)
            {
                ArgumentException.ThrowIfNullOrEmpty(kernelNames[i]);
                if (_kernels.TryGetValue((sourceFile, kernelNames[i], joined), out var k)) result[i] = k;
                else missing.Add(i);
            }
        if (missing.Count == 0) return result;
        var compiled = Compiler.CompileAll(missing.Select(i => new KernelRequest(sourceFile, kernelNames[i], defines)).ToArray());
        for (int j = 0; j < missing.Count; j++)
            result[missing[j]] = LoadAndRemember((sourceFile, kernelNames[missing[j]], joined), defines, compiled[j]);
        return result;
    }

    // The active mutant's define joins the compile of its own sources only; outside a mutant run this returns
    // the defines unchanged. The define is part of the memo key and of the disk cache key, so a mutant's cubin
    // is never served to a normal call and the normal cubins stay as they were.
    private static KernelDefine[] WithMutant(string sourceFile, KernelDefine[] defines)
    {
        if (KernelMutants.ActiveFor(sourceFile) is not { } m) return defines;
        return defines.Append(new KernelDefine(m.Define, "1")).ToArray();
    }

    private CudaKernel LoadAndRemember((string Source, string Name, string Defines) key, KernelDefine[] defines, CompiledKernel compiled)
    {
        EnsureCurrent();
        lock (_kernels)
        {
            // Another thread may have loaded the same kernel while this one compiled: keep the first.
            if (_kernels.TryGetValue(key, out var cached)) return cached;
            var compiler = Compiler;
            var kernel = Load(compiled, () => compiler.Compile(key.Source, key.Name, defines));
            _kernels[key] = kernel;
            return kernel;
        }
    }

    /// <summary>
    /// An injected compile fault made real: NVRTC compiles a source whose first line is an #error naming the kernel,
    /// so the caller sees NVRTC's own failure and log, as for a kernel that does not compile.
    /// </summary>
    private NvrtcException InjectedCompileFailure(Diagnostics.FaultSite fault, string sourceFile, string kernelName, KernelDefine[] defines)
    {
        EnsureCurrent();
        string source = $"#error injected compile failure of {kernelName} from {sourceFile} ({fault.Rule.Point})\n";
        try
        {
            Compiler.CompileSource($"fault-injection/{sourceFile}", source, kernelName, defines);
        }
        catch (NvrtcException e)
        {
            return e;
        }
        throw new InvalidOperationException($"NVRTC compiled a source that starts with #error ({kernelName}); the compile fault cannot be injected");
    }

    /// <summary>
    /// Compiles an application's own CUDA C++ <paramref name="source"/> (not a file of native/) with the engine's
    /// compiler and returns its kernel <paramref name="kernelName"/>: an extern "C" name or a template instantiation.
    /// It gets what the engine's kernels get: the same NVRTC options and <paramref name="defines"/>, native/'s headers
    /// (so <c>#include "common.cuh"</c> resolves) and the disk cache of cubins, so a second process start compiles
    /// nothing. <paramref name="sourceName"/> names the source in logs, NVRTC errors and the cache key. Cached in
    /// memory per (name, text, kernel, defines); a lookup hashes the text, so fetch kernels once, at construction.
    /// </summary>
    /// <exception cref="ArgumentException">A name or the source is empty.</exception>
    /// <exception cref="NvrtcException">The source does not compile; the message carries NVRTC's log.</exception>
    public CudaKernel GetKernelFromSource(string sourceName, string source, string kernelName, params KernelDefine[] defines)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(kernelName);
        defines ??= Array.Empty<KernelDefine>();
        var key = (sourceName, source, kernelName, string.Join(" ", defines.Select(d => d.ToString())));
        lock (_sourceKernels)
        {
            if (_sourceKernels.TryGetValue(key, out var cached)) return cached;
            EnsureCurrent();
            var compiler = Compiler;
            var kernel = Load(compiler.CompileSource(sourceName, source, kernelName, defines),
                () => compiler.CompileSource(sourceName, source, kernelName, defines));
            _sourceKernels[key] = kernel;
            return kernel;
        }
    }

    /// <summary>Compiles raw CUDA source (not from native/) and loads <paramref name="kernelName"/>; for device cases.</summary>
    public CudaKernel CompileForTest(string source, string kernelName)
    {
        EnsureCurrent();
        var compiler = Compiler;
        var compiled = compiler.CompileSource("test.cu", source, kernelName, Array.Empty<KernelDefine>());
        return Load(compiled, () => compiler.CompileSource("test.cu", source, kernelName, Array.Empty<KernelDefine>()));
    }

    // A cubin from the disk cache that the driver rejects is treated as corrupt: drop it, compile afresh.
    private CudaKernel Load(CompiledKernel compiled, Func<CompiledKernel> rebuild)
    {
        int st = TryLoadModule(compiled.Cubin, out var module);
        if (st != 0 && compiled.FromCache)
        {
            _logger?.LogWarning("cached cubin {Key} for {Kernel} was rejected by the driver ({Error}); rebuilding",
                compiled.CacheKey, compiled.KernelName, CudaException.DescribeName(st));
            Compiler.Cache.Remove(compiled.CacheKey);
            compiled = rebuild();
            st = TryLoadModule(compiled.Cubin, out module);
        }
        if (st != 0) throw CudaException.Create(st, $"cuModuleLoadData(cubin of {compiled.KernelName}, {compiled.Cubin.Length} bytes)");
        lock (_lock) _modules.Add(module!);
        IntPtr fn;
        var lowered = Encoding.UTF8.GetBytes(compiled.LoweredName + "\0");
        fixed (byte* p = lowered)
        {
            int s = CuDriver.cuModuleGetFunction(&fn, module!.Value, p);
            if (s != 0) throw CudaException.Create(s, $"cuModuleGetFunction({compiled.KernelName} = {compiled.LoweredName})");
        }
        return new CudaKernel(this, fn, compiled.KernelName, compiled.LoweredName);
    }

    private int TryLoadModule(byte[] cubin, out ModuleHandle? module)
    {
        IntPtr m;
        int st;
        fixed (byte* p = cubin) st = CuDriver.cuModuleLoadData(&m, p);
        module = st == 0 ? new ModuleHandle(m, _context.Value) : null;
        return st;
    }

    /// <inheritdoc/>
    protected override void DisposeCore()
    {
        // Children first; nothing here may throw, so each release swallows its own failure.
        _released = true;
        try { CudaContext.TryMakeCurrent(_context.Value); } catch { }
        IDisposable[] Take(OwnedKind k)
        {
            lock (_lock)
            {
                var a = _owned[k].ToArray();
                _owned[k].Clear();
                return a;
            }
        }
        foreach (var g in Take(OwnedKind.Graph)) SafeDispose(g);
        lock (_lock)
        {
            foreach (var m in _modules) SafeDispose(m);
            _modules.Clear();
            _kernels.Clear();
            _sourceKernels.Clear();
        }
        foreach (var b in Take(OwnedKind.Blas)) SafeDispose(b);
        CudaStream[] streams;
        lock (_lock) streams = _streams.ToArray();
        foreach (var s in streams) SafeDispose(s);
        foreach (var e in Take(OwnedKind.Event)) SafeDispose(e);
        DeviceAllocationHandle[] allocations;
        lock (_lock)
        {
            allocations = _allocations.Values.ToArray();
            _allocations.Clear();
        }
        if (allocations.Length > 0)
            _logger?.LogWarning("{Count} device allocation(s) were still live when {Device} was disposed; freeing them", allocations.Length, _info.Name);
        foreach (var a in allocations) SafeDispose(a);
        _context.Dispose();
        // Status ignored: Dispose never throws, and a context the release already destroyed resets as a no-op.
        if (ResetContextOnDispose) _ = CuDriver.cuDevicePrimaryCtxReset(_context.Device);
    }

    private static void SafeDispose(IDisposable d)
    {
        try { d.Dispose(); } catch { }
    }
}
