using System.Collections.Concurrent;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Kernels;

/// <summary>
/// The compiler's concurrency with NVRTC replaced by a fake (this machine has no NVRTC): distinct
/// instances compile in parallel up to the bound, concurrent requests for one instance compile once,
/// results come back in request order, errors keep their log, and the disk cache works as before.
/// </summary>
public sealed class ParallelCompileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ge-pcompile-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private sealed class FakeNvrtc
    {
        private int _running, _maxRunning;
        public readonly ConcurrentDictionary<string, int> Calls = new();
        public int MaxRunning => Volatile.Read(ref _maxRunning);
        public TimeSpan Work = TimeSpan.FromMilliseconds(150);

        public (byte[] Cubin, string Lowered) Compile(string sourceName, string source,
            IReadOnlyList<KeyValuePair<string, string>> headers, IReadOnlyList<string> options, string kernelName)
        {
            Calls.AddOrUpdate(kernelName + "|" + string.Join(" ", options), 1, (_, n) => n + 1);
            int now = Interlocked.Increment(ref _running);
            int seen;
            while ((seen = Volatile.Read(ref _maxRunning)) < now && Interlocked.CompareExchange(ref _maxRunning, now, seen) != seen) { }
            try
            {
                Thread.Sleep(Work);
                if (kernelName.Contains("broken"))
                    throw new NvrtcException(6, $"NVRTC could not compile {kernelName}\nline 3: error: expected a ';'", "line 3: error: expected a ';'");
                // The "cubin" is a pure function of the inputs, so determinism is checkable.
                var bytes = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(kernelName + string.Join(" ", options)));
                return (bytes, "_Z" + kernelName.Length + kernelName);
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }
    }

    private KernelCompiler Compiler(FakeNvrtc fake, int parallel) =>
        new("sm_90a", _dir, logger: null, fake.Compile, nvrtcVersion: "13.0", includeDirs: Array.Empty<string>(), parallel);

    private static KernelRequest Req(string name, params KernelDefine[] defines) => new("random/random.cu", name, defines);

    [Fact]
    public void Distinct_instances_compile_in_parallel_up_to_the_bound_and_return_in_request_order()
    {
        var fake = new FakeNvrtc();
        var compiler = Compiler(fake, parallel: 4);
        var requests = Enumerable.Range(0, 12).Select(i => Req($"k{i}")).ToArray();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var results = compiler.CompileAll(requests);
        sw.Stop();

        Assert.Equal(requests.Select(r => r.KernelName), results.Select(r => r.KernelName));
        Assert.All(results, r => Assert.Equal("_Z" + r.KernelName.Length + r.KernelName, r.LoweredName));
        Assert.Equal(12, compiler.Compiles);
        Assert.InRange(fake.MaxRunning, 2, 4);   // parallel, and never above the bound
        // 12 compiles of 150 ms, 4 at a time: about 450 ms; one after another would be 1800 ms.
        Assert.True(sw.Elapsed < TimeSpan.FromMilliseconds(1500), $"12 compiles took {sw.Elapsed.TotalMilliseconds:F0} ms with 4 slots");
    }

    [Fact]
    public void Concurrent_requests_for_one_instance_compile_it_once()
    {
        var fake = new FakeNvrtc();
        var compiler = Compiler(fake, parallel: 8);
        var define = new KernelDefine("TILE", "64");
        var results = new CompiledKernel[16];
        using var start = new Barrier(16);
        var threads = Enumerable.Range(0, 16).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            results[i] = compiler.Compile("random/random.cu", i % 2 == 0 ? "shared<0>" : "shared<1>", new[] { define });
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        Assert.Equal(2, fake.Calls.Count);
        Assert.All(fake.Calls.Values, n => Assert.Equal(1, n));
        Assert.Equal(2, compiler.Compiles);
        Assert.Equal(2, results.Select(r => r.CacheKey).Distinct().Count());
        Assert.All(results.Where((_, i) => i % 2 == 0), r => Assert.Equal(results[0].Cubin, r.Cubin));
    }

    [Fact]
    public void Disk_cache_serves_a_second_instance_and_a_removed_entry_compiles_again()
    {
        var fake = new FakeNvrtc { Work = TimeSpan.Zero };
        var first = Compiler(fake, parallel: 4);
        var a = first.CompileAll(new[] { Req("a"), Req("b"), Req("a", new KernelDefine("GE_X", "1")) });
        Assert.Equal(3, first.Compiles);
        Assert.NotEqual(a[0].CacheKey, a[2].CacheKey);   // the defines are part of the key

        var second = Compiler(fake, parallel: 4);
        var b = second.CompileAll(new[] { Req("a"), Req("b"), Req("a", new KernelDefine("GE_X", "1")) });
        Assert.Equal(0, second.Compiles);
        Assert.Equal(3, second.CacheHits);
        Assert.All(b, r => Assert.True(r.FromCache));
        Assert.Equal(a.Select(r => r.Cubin), b.Select(r => r.Cubin));

        second.Cache.Remove(b[1].CacheKey);
        var again = second.Compile("random/random.cu", "b", Array.Empty<KernelDefine>());
        Assert.False(again.FromCache);
        Assert.Equal(1, second.Compiles);
        Assert.Equal(a[1].Cubin, again.Cubin);
    }

    [Fact]
    public void A_failing_instance_throws_its_log_after_the_others_finish_first_failure_in_request_order()
    {
        var fake = new FakeNvrtc { Work = TimeSpan.FromMilliseconds(20) };
        var compiler = Compiler(fake, parallel: 4);
        var e = Assert.Throws<NvrtcException>(() =>
            compiler.CompileAll(new[] { Req("ok1"), Req("broken_a"), Req("ok2"), Req("broken_b") }));
        Assert.Contains("broken_a", e.Message);
        Assert.Contains("expected a ';'", e.Message);
        Assert.Equal(2, compiler.Compiles);   // both good ones still compiled and were cached
        Assert.Equal(2, Directory.GetFiles(_dir, "*.cubin").Length);
    }

    [Fact]
    public void The_bound_must_be_positive()
    {
        var fake = new FakeNvrtc();
        Assert.Throws<ArgumentOutOfRangeException>(() => Compiler(fake, parallel: 0));
    }
}
