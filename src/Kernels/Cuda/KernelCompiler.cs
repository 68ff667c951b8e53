using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>A cubin ready for cuModuleLoadData and the symbol to fetch from it.</summary>
public sealed record CompiledKernel(string KernelName, string LoweredName, byte[] Cubin, string CacheKey, bool FromCache);

/// <summary>One kernel instance to compile: native/<paramref name="SourceFile"/>, the name expression, the defines.</summary>
public sealed record KernelRequest(string SourceFile, string KernelName, IReadOnlyList<KernelDefine> Defines);

/// <summary>
/// Compiles native/*.cu with NVRTC for one GPU architecture, through a disk cache of cubins keyed by
/// everything that shapes the result (source, every header, options, kernel name, NVRTC version,
/// architecture), so a second process start compiles nothing. Thread-safe: NVRTC programs are
/// independent, so different keys compile in parallel (at most <see cref="MaxParallelCompiles"/> at
/// once), and concurrent requests for one key share a single compile.
/// </summary>
public sealed unsafe class KernelCompiler
{
    /// <summary>The NVRTC step: source, headers, options and name expression to (cubin, lowered name); a seam for tests.</summary>
    internal delegate (byte[] Cubin, string Lowered) NvrtcStep(string sourceName, string source,
        IReadOnlyList<KeyValuePair<string, string>> headers, IReadOnlyList<string> options, string kernelName);

    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_sources = new(LoadEmbeddedSources);
    private readonly ILogger? _logger;
    private readonly Lazy<string> _nvrtcVersion;
    private readonly Lazy<IReadOnlyList<string>> _includeDirs;
    private readonly NvrtcStep _nvrtc;
    private readonly SemaphoreSlim _slots;
    // Compiles in progress by cache key: a second caller of the same key waits for the first one's result
    // (or its exception, which carries the NVRTC log) instead of compiling again. Removed once done, so a
    // later call after a rejected cubin (Cache.Remove) compiles afresh.
    private readonly ConcurrentDictionary<string, Lazy<CompiledKernel>> _inFlight = new(StringComparer.Ordinal);
    private int _compiles, _hits;

    /// <summary>A compiler for <paramref name="architecture"/> ("sm_90a") caching cubins in <paramref name="cacheDirectory"/> (null: <see cref="KernelCache.DefaultDirectory"/>), logging compiles to <paramref name="logger"/>.</summary>
    public KernelCompiler(string architecture, string? cacheDirectory = null, ILogger? logger = null)
        : this(architecture, cacheDirectory, logger, nvrtc: null, nvrtcVersion: null, includeDirs: null, Environment.ProcessorCount)
    {
    }

    internal KernelCompiler(string architecture, string? cacheDirectory, ILogger? logger, NvrtcStep? nvrtc,
        string? nvrtcVersion, IReadOnlyList<string>? includeDirs, int maxParallelCompiles)
    {
        ArgumentException.ThrowIfNullOrEmpty(architecture);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxParallelCompiles, 1);
        Architecture = architecture;
        Cache = new KernelCache(cacheDirectory ?? KernelCache.DefaultDirectory());
        _logger = logger;
        _nvrtc = nvrtc ?? NvrtcCompile;
        _nvrtcVersion = nvrtcVersion is null ? new Lazy<string>(QueryNvrtcVersion) : new Lazy<string>(() => nvrtcVersion);
        _includeDirs = includeDirs is null ? new Lazy<IReadOnlyList<string>>(() => FindCudaIncludeDirs()) : new Lazy<IReadOnlyList<string>>(() => includeDirs);
        MaxParallelCompiles = maxParallelCompiles;
        _slots = new SemaphoreSlim(maxParallelCompiles, maxParallelCompiles);
    }

    /// <summary>The most NVRTC compiles this instance runs at once (the processor count by default).</summary>
    public int MaxParallelCompiles { get; }

    /// <summary>"sm_90a" on Hopper (so wgmma is usable), "sm_XY" elsewhere.</summary>
    public static string ArchitectureFor(int major, int minor) => major == 9 && minor == 0 ? "sm_90a" : $"sm_{major}{minor}";

    /// <summary>The target passed to NVRTC (--gpu-architecture).</summary>
    public string Architecture { get; }
    /// <summary>The disk cache of cubins.</summary>
    public KernelCache Cache { get; }
    /// <summary>The cache's directory.</summary>
    public string CacheDirectory => Cache.Directory;

    /// <summary>NVRTC compiles run by this instance.</summary>
    public int Compiles => Volatile.Read(ref _compiles);

    /// <summary>Kernels served from the disk cache by this instance.</summary>
    public int CacheHits => Volatile.Read(ref _hits);

    /// <summary>NVRTC's version, queried on first use; part of every cache key.</summary>
    public string NvrtcVersion => _nvrtcVersion.Value;

    /// <summary>native/ files embedded in the assembly, by file name ("random/random.cu", "common.cuh").</summary>
    public static IReadOnlyDictionary<string, string> EmbeddedSources => s_sources.Value;

    private static IReadOnlyDictionary<string, string> LoadEmbeddedSources()
    {
        var asm = typeof(KernelCompiler).Assembly;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var res in asm.GetManifestResourceNames())
        {
            if (!res.StartsWith("native/", StringComparison.Ordinal)) continue;
            using var s = asm.GetManifestResourceStream(res)!;
            using var r = new StreamReader(s, Encoding.UTF8);
            result[res["native/".Length..]] = r.ReadToEnd();
        }
        return result;
    }

    /// <summary>Every .cuh, handed to NVRTC as an in-memory header so `#include "common.cuh"` resolves.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Headers =>
        EmbeddedSources.Where(kv => kv.Key.EndsWith(".cuh", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();

    /// <summary>The embedded text of native/<paramref name="sourceFile"/>; <see cref="ArgumentException"/> when there is no such file.</summary>
    public static string SourceText(string sourceFile) =>
        EmbeddedSources.TryGetValue(sourceFile, out var text)
            ? text
            : throw new ArgumentException(
                $"no kernel source '{sourceFile}' is embedded; native/ has: {string.Join(", ", EmbeddedSources.Keys.OrderBy(k => k))}", nameof(sourceFile));

    /// <summary>The CUDA include directories: CUDA_HOME, CUDA_PATH, /usr/local/cuda (include/ and targets/x86_64-linux/include/).</summary>
    public static IReadOnlyList<string> FindCudaIncludeDirs(IEnumerable<string>? roots = null)
    {
        roots ??= new[] { Environment.GetEnvironmentVariable("CUDA_HOME"), Environment.GetEnvironmentVariable("CUDA_PATH"), "/usr/local/cuda" }
            .Where(r => !string.IsNullOrEmpty(r)).Select(r => r!);
        var tried = new List<string>();
        foreach (var root in roots)
        {
            var dirs = new List<string>();
            foreach (var sub in new[] { "include", Path.Combine("targets", "x86_64-linux", "include") })
            {
                string d = Path.Combine(root, sub);
                tried.Add(d);
                if (File.Exists(Path.Combine(d, "cuda_fp16.h"))) dirs.Add(d);
            }
            if (dirs.Count == 0) continue;
            // CUDA 13 moved CCCL (libcu++, nv/target) under include/cccl; the fp16/bf16 headers need it.
            foreach (var d in dirs.ToArray())
                if (System.IO.Directory.Exists(Path.Combine(d, "cccl"))) dirs.Add(Path.Combine(d, "cccl"));
            return dirs;
        }
        throw new DeviceUnavailableException(
            $"CUDA include directory not found (need cuda_fp16.h for NVRTC); looked in: {string.Join(", ", tried)}. Set CUDA_HOME to the toolkit root.");
    }

    /// <summary>Options every compile gets: architecture, C++17, device code by default, no fast-math.</summary>
    public IReadOnlyList<string> OptionsFor(IReadOnlyList<KernelDefine> defines)
    {
        var options = new List<string>
        {
            $"--gpu-architecture={Architecture}",
            "-std=c++17",
            "-default-device",
            "-DNDEBUG",
        };
        options.AddRange(defines.Select(d => d.ToString()));
        options.AddRange(_includeDirs.Value.Select(d => $"-I{d}"));
        return options;
    }

    /// <summary>Compiles <paramref name="kernelName"/> from native/<paramref name="sourceFile"/> (or serves it from the cache).</summary>
    public CompiledKernel Compile(string sourceFile, string kernelName, IReadOnlyList<KernelDefine> defines) =>
        CompileSource(sourceFile, SourceText(sourceFile), kernelName, defines);

    /// <summary>
    /// Compiles <paramref name="kernelName"/> from <paramref name="source"/> (named <paramref name="sourceName"/> in logs and
    /// errors) with <paramref name="defines"/>, or serves it from the cache; a failed cache write is logged, not thrown.
    /// Concurrent calls for the same inputs compile once and all get that result or its exception.
    /// </summary>
    public CompiledKernel CompileSource(string sourceName, string source, string kernelName, IReadOnlyList<KernelDefine> defines)
    {
        var options = OptionsFor(defines);
        var headers = Headers;
        string key = CacheKey(sourceName, source, headers, options, kernelName, NvrtcVersion, Architecture);
        var mine = new Lazy<CompiledKernel>(() => CompileOrLoad(key, sourceName, source, headers, options, kernelName),
            LazyThreadSafetyMode.ExecutionAndPublication);
        var entry = _inFlight.GetOrAdd(key, mine);
        try
        {
            return entry.Value;
        }
        finally
        {
            if (ReferenceEquals(entry, mine)) _inFlight.TryRemove(new KeyValuePair<string, Lazy<CompiledKernel>>(key, mine));
        }
    }

    /// <summary>
    /// Compiles every request at once, at most <see cref="MaxParallelCompiles"/> NVRTC programs in parallel, and
    /// returns the results in request order. When any fail, the first failure in request order is thrown (so the
    /// error does not depend on scheduling) after every compile has finished.
    /// </summary>
    public IReadOnlyList<CompiledKernel> CompileAll(IReadOnlyList<KernelRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var results = new CompiledKernel[requests.Count];
        var errors = new Exception?[requests.Count];
        if (requests.Count == 1) return new[] { Compile(requests[0].SourceFile, requests[0].KernelName, requests[0].Defines) };
        // Dedicated threads rather than the thread pool: a compile blocks its thread for tens of milliseconds, and a
        // busy pool (a test host, a server warming up) would otherwise run the batch one compile at a time.
        int next = -1;
        void Worker()
        {
            for (int i; (i = Interlocked.Increment(ref next)) < requests.Count;)
            {
                try
                {
                    results[i] = Compile(requests[i].SourceFile, requests[i].KernelName, requests[i].Defines);
                }
                catch (Exception e)
                {
                    errors[i] = e;
                }
            }
        }
        var workers = Enumerable.Range(0, Math.Min(MaxParallelCompiles, requests.Count))
            .Select(_ => new Thread(Worker) { IsBackground = true, Name = "nvrtc compile" }).ToList();
        foreach (var t in workers) t.Start();
        foreach (var t in workers) t.Join();
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        return results;
    }

    private CompiledKernel CompileOrLoad(string key, string sourceName, string source,
        IReadOnlyList<KeyValuePair<string, string>> headers, IReadOnlyList<string> options, string kernelName)
    {
        if (Cache.TryLoad(key, out var lowered, out var cached))
        {
            Interlocked.Increment(ref _hits);
            _logger?.LogDebug("kernel cache hit: {Kernel} from {Source} ({Key})", kernelName, sourceName, key);
            return new CompiledKernel(kernelName, lowered, cached, key, FromCache: true);
        }
        byte[] cubin;
        string loweredName;
        _slots.Wait();
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            (cubin, loweredName) = _nvrtc(sourceName, source, headers, options, kernelName);
            Interlocked.Increment(ref _compiles);
            _logger?.LogInformation("compiled {Kernel} from {Source} for {Arch} in {Ms:0} ms", kernelName, sourceName, Architecture, sw.Elapsed.TotalMilliseconds);
        }
        finally
        {
            _slots.Release();
        }
        try
        {
            Cache.Store(key, loweredName, cubin);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger?.LogWarning("could not write kernel cache entry {Path}: {Error}", Cache.PathFor(key), e.Message);
        }
        return new CompiledKernel(kernelName, loweredName, cubin, key, FromCache: false);
    }

    /// <summary>The SHA-256 hex key of a compile: every input that shapes the cubin.</summary>
    public static string CacheKey(string sourceName, string source, IEnumerable<KeyValuePair<string, string>> headers,
        IEnumerable<string> options, string kernelName, string nvrtcVersion, string architecture)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string tag, string value)
        {
            // Length-prefixed fields so no two different inputs concatenate to the same bytes.
            var bytes = Encoding.UTF8.GetBytes(value);
            h.AppendData(Encoding.UTF8.GetBytes($"{tag}:{bytes.Length}:"));
            h.AppendData(bytes);
        }
        Add("format", "1");
        Add("name", sourceName);
        Add("source", source);
        foreach (var (name, text) in headers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            Add("header-name", name);
            Add("header", text);
        }
        foreach (var o in options) Add("option", o);
        Add("kernel", kernelName);
        Add("nvrtc", nvrtcVersion);
        Add("arch", architecture);
        return System.Convert.ToHexStringLower(h.GetHashAndReset());
    }

    private static string QueryNvrtcVersion()
    {
        Libraries.Load(Libraries.Nvrtc);
        int major, minor;
        NvrtcException.ThrowIfFailed(Nvrtc.nvrtcVersion(&major, &minor));
        return $"{major}.{minor}";
    }

    private (byte[] Cubin, string Lowered) NvrtcCompile(string sourceName, string source,
        IReadOnlyList<KeyValuePair<string, string>> headers, IReadOnlyList<string> options, string kernelName)
    {
        Libraries.Load(Libraries.Nvrtc);
        var strings = new List<IntPtr>();
        IntPtr Utf8(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            strings.Add(p);
            return p;
        }
        try
        {
            int hc = headers.Count, oc = options.Count;
            var headerText = new IntPtr[hc];
            var headerNames = new IntPtr[hc];
            for (int i = 0; i < hc; i++)
            {
                headerNames[i] = Utf8(headers[i].Key);
                headerText[i] = Utf8(headers[i].Value);
            }
            var opts = new IntPtr[oc];
            for (int i = 0; i < oc; i++) opts[i] = Utf8(options[i]);
            IntPtr nameExpr = Utf8(kernelName);

            IntPtr prog;
            fixed (IntPtr* ht = headerText, hn = headerNames)
                NvrtcException.ThrowIfFailed(Nvrtc.nvrtcCreateProgram(&prog, (byte*)Utf8(source), (byte*)Utf8(sourceName),
                    hc, hc == 0 ? null : (byte**)ht, hc == 0 ? null : (byte**)hn));
            using var program = new NvrtcProgramHandle(prog);
            NvrtcException.ThrowIfFailed(Nvrtc.nvrtcAddNameExpression(prog, (byte*)nameExpr));
            int st;
            fixed (IntPtr* o = opts) st = Nvrtc.nvrtcCompileProgram(prog, oc, (byte**)o);
            string log = ProgramLog(prog);
            if (st != 0)
                throw new NvrtcException(st,
                    $"NVRTC could not compile {kernelName} from {sourceName} for {Architecture} ({NvrtcException.Describe(st)}); " +
                    $"options: {string.Join(" ", options)}\n{log}", log);
            if (!string.IsNullOrWhiteSpace(log)) _logger?.LogDebug("NVRTC log for {Kernel}: {Log}", kernelName, log);
            byte* lowered;
            NvrtcException.ThrowIfFailed(Nvrtc.nvrtcGetLoweredName(prog, (byte*)nameExpr, &lowered));
            string loweredName = Marshal.PtrToStringUTF8((IntPtr)lowered)
                ?? throw new NvrtcException(0, $"NVRTC returned no lowered name for {kernelName}", log);
            nuint size;
            NvrtcException.ThrowIfFailed(Nvrtc.nvrtcGetCUBINSize(prog, &size));
            var cubin = new byte[(int)size];
            fixed (byte* c = cubin) NvrtcException.ThrowIfFailed(Nvrtc.nvrtcGetCUBIN(prog, c));
            return (cubin, loweredName);
        }
        finally
        {
            foreach (var p in strings) Marshal.FreeCoTaskMem(p);
        }
    }

    private static string ProgramLog(IntPtr prog)
    {
        nuint size;
        if (Nvrtc.nvrtcGetProgramLogSize(prog, &size) != 0 || size <= 1) return "";
        var buf = new byte[(int)size];
        fixed (byte* b = buf)
            if (Nvrtc.nvrtcGetProgramLog(prog, b) != 0) return "";
        return Encoding.UTF8.GetString(buf, 0, buf.Length - 1);
    }
}
