using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Conformance;

/// <summary>
/// Conformance cases of the device layer: memory, copies, fills, compile, launch, capture and replay,
/// and the dense GEMMs. Cases named cuda/... check a CUDA-only mechanism on a GPU and the reference
/// method's equivalent behaviour elsewhere; both halves really check something.
/// </summary>
public static class DeviceCases
{
    public static IEnumerable<ConformanceCase> Cases()
    {
        foreach (var dtype in new[] { DType.F32, DType.BF16, DType.F16 })
            yield return new ConformanceCase($"device/random-fill/{dtype}/n=100003", "device", d => RandomFillMatchesHost(d, dtype, 100_003));

        yield return new ConformanceCase("device/copy/host-roundtrip-odd-sizes", "device", HostRoundTrip);
        yield return new ConformanceCase("device/copy/d2d-and-fills-at-odd-offsets", "device", DeviceCopyAndFills);
        yield return new ConformanceCase("device/capture/replay-equals-eager", "device", CaptureReplayEqualsEager);
        yield return new ConformanceCase("device/capture/exec-update-after-recapture", "device", ExecUpdateAfterRecapture);
        yield return new ConformanceCase("device/capture/illegal-ops-raise-stream-stays-usable", "device", IllegalOpsDuringCapture);
        yield return new ConformanceCase("device/events/elapsed-time", "device", EventsMeasureTime);
        yield return new ConformanceCase("cuda/nvrtc-error-carries-log", "device", CompileErrorCarriesLog);
        yield return new ConformanceCase("cuda/kernel-disk-cache", "device", KernelDiskCache);

        foreach (var dtype in new[] { DType.BF16, DType.F16 })
            foreach (int m in new[] { 1, 7, 83 })
                foreach (int k in new[] { 8, 769 })
                    foreach (int n in new[] { 5, 130 })
                        yield return new ConformanceCase($"gemm/{dtype}/m={m},k={k},n={n}", "gemm", d => GemmMatchesOracle(d, dtype, m, k, n));
        yield return new ConformanceCase("gemm/BF16/row-slice-unaligned/m=9,k=40,n=24", "gemm", GemmOnUnalignedRowSlice);
        yield return new ConformanceCase("gemm/BF16/m=512,k=4096,n=1536", "gemm", d => GemmMatchesOracle(d, DType.BF16, 512, 4096, 1536), CaseTier.Full);

        foreach (int m in new[] { 1, 7, 83 })
            foreach (int k in new[] { 64, 272 })
                foreach (int n in new[] { 16, 144 })
                    yield return new ConformanceCase($"gemm-fp8/per-tensor/m={m},k={k},n={n}", "gemm", d => Fp8GemmMatchesOracle(d, m, k, n));

        foreach (var (m, k, n) in new[] { (1, 16, 16), (7, 4096, 144), (83, 272, 1536), (513, 1024, 272) })
            yield return new ConformanceCase($"gemm-int8/m={m},k={k},n={n}", "gemm", d => Int8GemmMatchesOracle(d, m, k, n));
        yield return new ConformanceCase("gemm-int8/m=300,k=8192,n=2048", "gemm", d => Int8GemmMatchesOracle(d, 300, 8192, 2048), CaseTier.Full);
    }

    // The fill is a pure function of (seed, index): the device must reproduce the host definition exactly.
    private static CaseResult RandomFillMatchesHost(Device device, DType dtype, int count)
    {
        using var buf = device.AllocateTensor(dtype, new long[] { count }, out var t, "random-fill");
        var stream = device.DefaultStream;
        t.Poison(stream);
        RandomFill.Create(device).Uniform(stream, t, seed: 1234, scale: 0.5f, offset: 0.25f);
        stream.Synchronize();
        var actual = t.DownloadFloats();
        var expected = new float[count];
        for (int i = 0; i < count; i++)
        {
            float v = RandomFill.UniformValue(i, 1234, 0.5f, 0.25f);
            expected[i] = dtype == DType.F32 ? v : HalfBits.ToFloat(HalfBits.FromFloat(v, dtype), dtype);
        }
        return Checks.BitEqual($"uniform fill {dtype}[{count}]", expected, actual);
    }

    private static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new System.Random(seed).NextBytes(bytes);
        return bytes;
    }

    // Sizes that are not multiples of any copy width, at the start of fresh allocations.
    private static CaseResult HostRoundTrip(Device device)
    {
        var parts = new List<CaseResult>();
        foreach (int size in new[] { 1, 3, 1021, 65537 })
        {
            using var buf = device.Allocate(size, $"roundtrip {size}");
            var t = buf.AsTensor(DType.U8, size);
            var src = RandomBytes(size, size);
            t.UploadBytes(src);
            parts.Add(Checks.Equal<byte>($"{size} bytes", src, t.DownloadBytes()));
        }
        return CaseResult.All(parts.ToArray());
    }

    // Async copy and the three fill widths at odd offsets; bytes around each range must stay untouched.
    private static CaseResult DeviceCopyAndFills(Device device)
    {
        const int size = 4099;
        using var srcBuf = device.Allocate(size, "copy src");
        using var dstBuf = device.Allocate(size, "copy dst");
        var src = RandomBytes(size, 11);
        var dst = RandomBytes(size, 12);
        srcBuf.AsTensor(DType.U8, size).UploadBytes(src);
        dstBuf.AsTensor(DType.U8, size).UploadBytes(dst);
        using var stream = device.CreateStream();
        stream.CopyAsync(dstBuf.Ptr + 5, srcBuf.Ptr + 3, 1001);
        stream.Fill8Async(dstBuf.Ptr + 1011, 0xA5, 7);
        stream.Fill16Async(dstBuf.Ptr + 1020, 0xBEEF, 13);     // 2-byte aligned, odd count
        stream.Fill32Async(dstBuf.Ptr + 1100, 0xDEADBEEF, 101); // 4-byte aligned, odd count
        stream.Synchronize();
        var expected = (byte[])dst.Clone();
        Array.Copy(src, 3, expected, 5, 1001);
        for (int i = 0; i < 7; i++) expected[1011 + i] = 0xA5;
        for (int i = 0; i < 13; i++) BitConverter.TryWriteBytes(expected.AsSpan(1020 + 2 * i), (ushort)0xBEEF);
        for (int i = 0; i < 101; i++) BitConverter.TryWriteBytes(expected.AsSpan(1100 + 4 * i), 0xDEADBEEFu);
        return Checks.Equal<byte>("copy + fills (neighbours untouched)", expected, dstBuf.AsTensor(DType.U8, size).DownloadBytes());
    }

    /// <summary>A chain of several kinds of work on one stream: fill, random kernel, copy, GEMM.</summary>
    private sealed class Chain : IDisposable
    {
        public const int M = 7, K = 40, N = 24;
        private readonly DeviceBuffer _a, _w, _c, _copy, _scalar;
        private readonly RandomFill _fill;
        private readonly Gemm _gemm;
        public readonly Tensor A, W, C, Copy, Scalar;

        public Chain(Device device)
        {
            _a = device.AllocateTensor(DType.BF16, new long[] { M, K }, out A, "chain a");
            _w = device.AllocateTensor(DType.BF16, new long[] { N, K }, out W, "chain w");
            _c = device.AllocateTensor(DType.BF16, new long[] { M, N }, out C, "chain c");
            _copy = device.AllocateTensor(DType.BF16, new long[] { M, N }, out Copy, "chain copy");
            _scalar = device.AllocateTensor(DType.I32, new long[] { 1 }, out Scalar, "chain scalar");
            _fill = RandomFill.Create(device);
            _gemm = Gemm.Create(device);
        }

        public void Enqueue(ComputeStream s, uint seed, int scalar)
        {
            s.Fill32Async(Scalar.Ptr, (uint)scalar, 1);
            _fill.Uniform(s, A, seed, 1f);
            _fill.Uniform(s, W, seed + 1, 0.5f);
            _gemm.MatMul(s, A, W, C, M);
            s.CopyAsync(Copy.Ptr, C.Ptr, C.ByteCount);
        }

        public void Poison(ComputeStream s)
        {
            C.Poison(s);
            Copy.Poison(s);
            s.Fill32Async(Scalar.Ptr, 0xFFFFFFFF, 1);
        }

        public (float[] C, float[] Copy, int Scalar) Read() => (C.DownloadFloats(), Copy.DownloadFloats(), Scalar.DownloadInts()[0]);

        public void Dispose()
        {
            _gemm.Dispose();
            foreach (var b in new[] { _a, _w, _c, _copy, _scalar }) b.Dispose();
        }
    }

    // Capture must record, not run; replay must reproduce the eager results bit for bit.
    private static CaseResult CaptureReplayEqualsEager(Device device)
    {
        using var chain = new Chain(device);
        using var stream = device.CreateStream();
        chain.Enqueue(stream, seed: 5, scalar: 77);   // eager, also the warm-up that plans the GEMM
        stream.Synchronize();
        var eager = chain.Read();

        chain.Poison(stream);
        stream.Synchronize();
        stream.BeginCapture();
        chain.Enqueue(stream, seed: 5, scalar: 77);
        using var graph = stream.EndCapture();
        stream.Synchronize();
        var afterCapture = chain.Read();
        bool untouched = afterCapture.C.All(float.IsNaN) && afterCapture.Scalar == -1;

        graph.Launch(stream);
        stream.Synchronize();
        var replay = chain.Read();
        return CaseResult.All(
            Checks.True(untouched, $"capture did not execute the work (outputs still poisoned: {untouched})"),
            Checks.True(graph.NodeCount >= 5, $"graph has {graph.NodeCount} nodes (>= 5 operations captured)"),
            Checks.BitEqual("replayed GEMM output", eager.C, replay.C),
            Checks.BitEqual("replayed copy", eager.Copy, replay.Copy),
            Checks.True(replay.Scalar == 77, $"replayed scalar fill wrote {replay.Scalar} (expected 77)"));
    }

    // Recapture with new parameters into the same graph object (in-place update), then with a different
    // topology (the driver refuses the update; the same object is re-instantiated).
    private static CaseResult ExecUpdateAfterRecapture(Device device)
    {
        using var chain = new Chain(device);
        using var stream = device.CreateStream();
        chain.Enqueue(stream, seed: 21, scalar: 3);
        stream.Synchronize();
        var eager21 = chain.Read();
        chain.Enqueue(stream, seed: 22, scalar: 4);
        stream.Synchronize();
        var eager22 = chain.Read();

        stream.BeginCapture();
        chain.Enqueue(stream, seed: 21, scalar: 3);
        var graph = stream.EndCapture();
        try
        {
            chain.Poison(stream);
            graph.Launch(stream);
            stream.Synchronize();
            var first = chain.Read();

            stream.BeginCapture();
            chain.Enqueue(stream, seed: 22, scalar: 4);
            var updated = stream.EndCapture(graph);
            chain.Poison(stream);
            graph.Launch(stream);
            stream.Synchronize();
            var second = chain.Read();
            bool inPlace = graph is not CudaGraph cg || !cg.LastUpdateReinstantiated;

            stream.BeginCapture();
            chain.Enqueue(stream, seed: 21, scalar: 3);
            stream.Fill16Async(chain.Copy.Ptr, HalfBits.FromFloat(2.5f, DType.BF16), 3);   // an extra node: new topology
            var rebuilt = stream.EndCapture(graph);
            chain.Poison(stream);
            graph.Launch(stream);
            stream.Synchronize();
            var third = chain.Read();
            var expectedCopy = (float[])eager21.Copy.Clone();
            for (int i = 0; i < 3; i++) expectedCopy[i] = 2.5f;
            bool reinstantiated = graph is not CudaGraph cg2 || cg2.LastUpdateReinstantiated;

            return CaseResult.All(
                Checks.BitEqual("first capture", eager21.C, first.C),
                Checks.True(ReferenceEquals(updated, graph) && ReferenceEquals(rebuilt, graph), "updates return the same graph object"),
                Checks.True(inPlace, "same-topology recapture updated the exec in place"),
                Checks.BitEqual("after in-place update", eager22.C, second.C),
                Checks.True(second.Scalar == 4, $"updated scalar fill wrote {second.Scalar} (expected 4)"),
                Checks.True(reinstantiated, "changed-topology recapture was re-instantiated"),
                Checks.BitEqual("after re-instantiation (copy with extra fill)", expectedCopy, third.Copy));
        }
        finally
        {
            graph.Dispose();
        }
    }

    // Synchronize, allocation and host copies inside a capture are refused on the capturing thread;
    // the stream then aborts cleanly and works as before.
    private static CaseResult IllegalOpsDuringCapture(Device device)
    {
        using var stream = device.CreateStream();
        using var buf = device.AllocateTensor(DType.F32, new long[] { 1000 }, out var t, "after-abort");
        var fill = RandomFill.Create(device);
        var refused = new List<string>();
        fill.Uniform(stream, t, seed: 8, scale: 1f);   // eager first: compiling or loading a module is no capture work
        stream.Synchronize();
        stream.BeginCapture();
        bool anyCapturing = device.AnyStreamCapturing;
        fill.Uniform(stream, t, seed: 9, scale: 1f);
        void Expect(string what, Action op)
        {
            try
            {
                op();
            }
            catch (StreamCaptureException)
            {
                refused.Add(what);
            }
        }
        Expect("stream synchronize", stream.Synchronize);
        Expect("device synchronize", device.Synchronize);
        Expect("allocate", () => device.Allocate(256, "inside capture").Dispose());
        Expect("host read", () => t.DownloadFloats());
        Expect("host write", () => t.UploadFloats(new float[1000]));
        stream.AbortCapture();
        bool stopped = !stream.IsCapturing && !device.AnyStreamCapturing;

        t.Poison(stream);
        fill.Uniform(stream, t, seed: 9, scale: 1f);
        stream.Synchronize();
        var values = t.DownloadFloats();
        var expected = new float[values.Length];
        for (int i = 0; i < expected.Length; i++) expected[i] = RandomFill.UniformValue(i, 9, 1f, 0f);
        return CaseResult.All(
            Checks.True(anyCapturing, "device reports a capturing stream on this thread"),
            Checks.True(refused.Count == 5, $"refused while capturing: {string.Join(", ", refused)} ({refused.Count} of 5)"),
            Checks.True(stopped, "capture aborted, no stream capturing"),
            Checks.BitEqual("stream usable after abort", expected, values));
    }

    private static CaseResult EventsMeasureTime(Device device)
    {
        using var stream = device.CreateStream();
        using var start = device.CreateEvent();
        using var end = device.CreateEvent();
        using var buf = device.AllocateTensor(DType.F32, new long[] { 1 << 20 }, out var t, "event work");
        var fill = RandomFill.Create(device);
        start.Record(stream);
        for (int i = 0; i < 4; i++) fill.Uniform(stream, t, (uint)i, 1f);
        end.Record(stream);
        end.Synchronize();
        float ms = end.ElapsedMillisecondsSince(start);
        return Checks.True(ms > 0 && ms < 10_000, $"4 fills of 1M floats took {ms:0.###} ms (must be > 0 and finite)");
    }

    // CUDA: a kernel with a type error must fail with the NVRTC log (line and message) in the exception.
    // Reference: no compiler exists; the equivalent input check is that every native source is embedded and
    // every quoted #include names an embedded header, so NVRTC would get everything it needs.
    private static CaseResult CompileErrorCarriesLog(Device device)
    {
        if (device is CudaDevice cuda)
        {
            const string bad = "extern \"C\" __global__ void broken(float* x) { undeclared_thing(x); }\n";
            try
            {
                cuda.CompileForTest(bad, "broken");
                return CaseResult.Fail("a kernel calling an undeclared function compiled");
            }
            catch (NvrtcException e)
            {
                bool hasLog = e.Log.Contains("undeclared_thing", StringComparison.Ordinal) && e.Message.Contains(e.Log.Trim(), StringComparison.Ordinal);
                return Checks.True(hasLog, $"NvrtcException carries the log ({e.Log.Trim().Split('\n')[0]})");
            }
        }
        var sources = KernelCompiler.EmbeddedSources;
        var missing = new List<string>();
        foreach (var (name, text) in sources)
            foreach (var line in text.Split('\n'))
            {
                var l = line.Trim();
                if (!l.StartsWith("#include \"", StringComparison.Ordinal)) continue;
                string inc = l["#include \"".Length..].TrimEnd('"');
                if (!sources.ContainsKey(inc)) missing.Add($"{name} -> {inc}");
            }
        bool unknownRejected;
        try
        {
            KernelCompiler.SourceText("no_such_family.cu");
            unknownRejected = false;
        }
        catch (ArgumentException e)
        {
            unknownRejected = e.Message.Contains("no_such_family.cu", StringComparison.Ordinal);
        }
        return CaseResult.All(
            Checks.True(sources.ContainsKey("common.cuh") && sources.ContainsKey("random/random.cu"), $"{sources.Count} native sources embedded"),
            Checks.True(missing.Count == 0, $"unresolved includes: {(missing.Count == 0 ? "none" : string.Join(", ", missing))}"),
            Checks.True(unknownRejected, "an unknown source name is rejected by name"));
    }

    // CUDA: a fresh compiler on an empty directory compiles; a second fresh instance hits the cache and
    // compiles nothing; a corrupted entry is detected, rebuilt, and the rebuilt kernel runs.
    // Reference: the same cache with opaque payloads (round trip, corruption detected and dropped).
    private static CaseResult KernelDiskCache(Device device)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"ge-kcache-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            if (device is CudaDevice cuda)
            {
                string arch = KernelCompiler.ArchitectureFor(cuda.Info.ComputeMajor, cuda.Info.ComputeMinor);
                const string kernel = "random_uniform<float>";
                var first = new KernelCompiler(arch, dir);
                var c1 = first.Compile("random/random.cu", kernel, Array.Empty<KernelDefine>());
                var second = new KernelCompiler(arch, dir);
                var c2 = second.Compile("random/random.cu", kernel, Array.Empty<KernelDefine>());
                var path = second.Cache.PathFor(c2.CacheKey);
                var bytes = File.ReadAllBytes(path);
                bytes[^10] ^= 0x5A;
                File.WriteAllBytes(path, bytes);
                var third = new KernelCompiler(arch, dir);
                var c3 = third.Compile("random/random.cu", kernel, Array.Empty<KernelDefine>());
                return CaseResult.All(
                    Checks.True(first.Compiles == 1 && !c1.FromCache, $"first instance compiled ({first.Compiles} compile)"),
                    Checks.True(second.Compiles == 0 && second.CacheHits == 1 && c2.FromCache, $"second instance: {second.Compiles} compiles, {second.CacheHits} hit"),
                    Checks.True(c2.Cubin.AsSpan().SequenceEqual(c1.Cubin) && c2.LoweredName == c1.LoweredName, "cached cubin equals the compiled one"),
                    Checks.True(third.Cache.CorruptEntries == 1 && third.Compiles == 1 && c3.Cubin.AsSpan().SequenceEqual(c1.Cubin),
                        $"corrupt entry detected ({third.Cache.CorruptEntries}) and rebuilt ({third.Compiles} compile)"),
                    Checks.True(new KernelCache(dir).TryLoad(c3.CacheKey, out _, out _), "rebuilt entry is valid on disk"));
            }
            var cache = new KernelCache(dir);
            string key = KernelCompiler.CacheKey("x.cu", "src", KernelCompiler.Headers, new[] { "-std=c++17" }, "k<int>", "0.0", "host");
            var payload = RandomBytes(3001, 5);
            bool missBefore = !cache.TryLoad(key, out _, out _);
            cache.Store(key, "_Z1kIiEvv", payload);
            bool hit = new KernelCache(dir).TryLoad(key, out var lowered, out var loaded) && lowered == "_Z1kIiEvv" && loaded.AsSpan().SequenceEqual(payload);
            var file = File.ReadAllBytes(cache.PathFor(key));
            file[^1] ^= 1;
            File.WriteAllBytes(cache.PathFor(key), file);
            var again = new KernelCache(dir);
            bool corruptMiss = !again.TryLoad(key, out _, out _) && again.CorruptEntries == 1 && !File.Exists(cache.PathFor(key));
            string otherKey = KernelCompiler.CacheKey("x.cu", "src", KernelCompiler.Headers, new[] { "-std=c++17", "-DX=1" }, "k<int>", "0.0", "host");
            return CaseResult.All(
                Checks.True(missBefore, "empty cache misses"),
                Checks.True(hit, "a fresh instance reads the stored entry"),
                Checks.True(corruptMiss, "a flipped bit is detected and the entry deleted"),
                Checks.True(otherKey != key, "a different define gives a different key"));
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private static float[] RandomFloats(int count, int seed, float scale)
    {
        var r = new System.Random(seed);
        var v = new float[count];
        // Non-zero, mixed-sign values away from 0 so relative errors are meaningful.
        for (int i = 0; i < count; i++) v[i] = (float)((r.NextDouble() * 0.9 + 0.1) * (r.Next(2) == 0 ? -scale : scale));
        return v;
    }

    private static double[] Rounded(float[] v, DType dtype)
    {
        var r = new double[v.Length];
        for (int i = 0; i < v.Length; i++) r[i] = HalfBits.ToFloat(HalfBits.FromFloat(v[i], dtype), dtype);
        return r;
    }

    /// <summary>c[i, j] = a[i] · w[j] (+ bias[j]) in float64, parallel over column blocks.</summary>
    private static double[] Oracle(double[] a, double[] w, double[]? bias, int m, int k, int n)
    {
        var c = new double[m * n];
        Float64.ForColumns(n, (long)m * k, (j0, j1) =>
        {
            for (int j = j0; j < j1; j++)
            {
                var wj = w.AsSpan(j * k, k);
                for (int i = 0; i < m; i++) c[i * n + j] = Float64.Dot(a.AsSpan(i * k, k), wj) + (bias?[j] ?? 0);
            }
        });
        return c;
    }

    // One rounding: fp32 accumulation of exact bf16/fp16 products, the bias added in fp32, the output rounded
    // once (at most 2^-8 / 2^-11 relative): an fp16 accumulator (~4e-3 on fp16 outputs) or a bf16 partial
    // carried across K tiles (~8e-3) is far outside it, and so is any single wrong element.
    private static CaseResult GemmMatchesOracle(Device device, DType dtype, int m, int k, int n)
    {
        using var ba = device.AllocateTensor(dtype, new long[] { m, k }, out var a, "gemm a");
        using var bw = device.AllocateTensor(dtype, new long[] { n, k }, out var w, "gemm w");
        using var bb = device.AllocateTensor(dtype, new long[] { n }, out var bias, "gemm bias");
        using var bc = device.AllocateTensor(dtype, new long[] { m, n }, out var c, "gemm c");
        var af = RandomFloats(m * k, m * 31 + k, 1f);
        var wf = RandomFloats(n * k, n * 17 + k, 1f / MathF.Sqrt(k));
        var bf = RandomFloats(n, n, 0.5f);
        a.UploadFloats(af);
        w.UploadFloats(wf);
        bias.UploadFloats(bf);
        double[] ar = Rounded(af, dtype), wr = Rounded(wf, dtype), br = Rounded(bf, dtype);
        using var gemm = Gemm.Create(device);
        var stream = device.DefaultStream;
        var parts = new List<CaseResult>();
        // The product is the same with and without bias: computed once, the bias added to a copy.
        var product = Oracle(ar, wr, null, m, k, n);
        foreach (bool withBias in new[] { false, true })
        {
            c.Poison(stream);
            gemm.MatMul(stream, a, w, c, m, withBias ? bias : null);
            stream.Synchronize();
            var expected = product;
            if (withBias)
            {
                expected = new double[product.Length];
                for (int i = 0; i < product.Length; i++) expected[i] = product[i] + br[i % n];
            }
            parts.Add(Checks.Close($"{(withBias ? "with" : "no")} bias", expected, c.DownloadFloats(), n,
                withBias ? Tolerance.BiasEpilogue(dtype) : Tolerance.OneRounding(dtype, "fp32 accumulation, one output rounding")));
        }
        return CaseResult.All(parts.ToArray());
    }

    // A row slice starting at row 1 leaves A and C only 2-byte / 48-byte aligned: the algorithm must be
    // chosen for that alignment, and rows outside the slice must stay untouched.
    private static CaseResult GemmOnUnalignedRowSlice(Device device)
    {
        const int m = 9, k = 40, n = 24, rows = 5;
        var dtype = DType.BF16;
        using var ba = device.AllocateTensor(dtype, new long[] { m, k }, out var a, "gemm a");
        using var bw = device.AllocateTensor(dtype, new long[] { n, k }, out var w, "gemm w");
        using var bc = device.AllocateTensor(dtype, new long[] { m, n }, out var c, "gemm c");
        var af = RandomFloats(m * k, 3, 1f);
        var wf = RandomFloats(n * k, 4, 0.2f);
        a.UploadFloats(af);
        w.UploadFloats(wf);
        var stream = device.DefaultStream;
        c.Poison(stream);
        using var gemm = Gemm.Create(device);
        gemm.MatMul(stream, a.SliceRows(1, rows), w, c.SliceRows(1, rows), rows);
        stream.Synchronize();
        var all = c.DownloadFloats();
        var sliceA = Rounded(af, dtype).Skip(k).Take(rows * k).ToArray();
        var expected = Oracle(sliceA, Rounded(wf, dtype), null, rows, k, n);
        bool outsideUntouched = all.Take(n).All(float.IsNaN) && all.Skip((1 + rows) * n).All(float.IsNaN);
        return CaseResult.All(
            Checks.Close("rows 1..5", expected, all.Skip(n).Take(rows * n).ToArray(), n, Tolerance.OneRounding(dtype, "fp32 accumulation, one output rounding")),
            Checks.True(outsideUntouched, "rows outside the slice untouched"));
    }

    // Random e4m3 bytes with exponents in [4, 10] (magnitudes 2^-3 .. 2^3.9), no NaN codes.
    private static byte[] RandomE4M3(int count, int seed)
    {
        var r = new System.Random(seed);
        var b = new byte[count];
        for (int i = 0; i < count; i++) b[i] = (byte)((r.Next(2) << 7) | (r.Next(4, 11) << 3) | r.Next(8));
        return b;
    }

    // One rounding: e4m3 products are exact in fp32, accumulation and the two scale multiplies are fp32, and
    // the bf16 output rounding (at most 2^-8 relative) dominates.
    private static CaseResult Fp8GemmMatchesOracle(Device device, int m, int k, int n)
    {
        using var ba = device.AllocateTensor(DType.Fp8E4M3, new long[] { m, k }, out var a, "fp8 a");
        using var bw = device.AllocateTensor(DType.Fp8E4M3, new long[] { n, k }, out var w, "fp8 w");
        using var bsa = device.AllocateTensor(DType.F32, new long[] { 1 }, out var sa, "fp8 a scale");
        using var bsw = device.AllocateTensor(DType.F32, new long[] { 1 }, out var sw, "fp8 w scale");
        using var bc = device.AllocateTensor(DType.BF16, new long[] { m, n }, out var c, "fp8 c");
        var ab = RandomE4M3(m * k, m + k);
        var wb = RandomE4M3(n * k, n + 2 * k);
        a.UploadBytes(ab);
        w.UploadBytes(wb);
        float aScale = 0.37f, wScale = 1.0f / k;
        sa.UploadFloats(new[] { aScale });
        sw.UploadFloats(new[] { wScale });
        var stream = device.DefaultStream;
        c.Poison(stream);
        using var gemm = Fp8PerTensorGemm.Create(device);
        gemm.MatMul(stream, a, sa, w, sw, c, m);
        stream.Synchronize();
        var ad = ab.Select(x => (double)Fp8PerTensorGemm.DecodeE4M3(x)).ToArray();
        var wd = wb.Select(x => (double)Fp8PerTensorGemm.DecodeE4M3(x)).ToArray();
        var expected = Oracle(ad, wd, null, m, k, n).Select(v => v * aScale * wScale).ToArray();
        return Checks.Close("e4m3 x e4m3 -> bf16", expected, c.DownloadFloats(), n, Tolerance.Fp8TensorCore(DType.BF16));
    }

    // Exact: int8 products and their int32 sums are integers (|sum| <= k * 128^2 < 2^31 for these k), so
    // the device must equal the int64 oracle bit for bit. Bytes cover the whole range, -128 included.
    private static CaseResult Int8GemmMatchesOracle(Device device, int m, int k, int n)
    {
        using var ba = device.AllocateTensor(DType.I8, new long[] { m, k }, out var a, "int8 a");
        using var bw = device.AllocateTensor(DType.I8, new long[] { n, k }, out var w, "int8 w");
        using var bc = device.AllocateTensor(DType.I32, new long[] { m, n }, out var c, "int8 c");
        var ab = new byte[m * k];
        var wb = new byte[n * k];
        new System.Random(m + 3 * k).NextBytes(ab);
        new System.Random(n + 5 * k).NextBytes(wb);
        a.UploadBytes(ab);
        w.UploadBytes(wb);
        var stream = device.DefaultStream;
        c.Poison(stream);
        using var gemm = Int8Gemm.Create(device);
        gemm.MatMul(stream, a, w, c, m);
        stream.Synchronize();
        var expected = new int[m * n];
        Parallel.For(0, m, r =>
        {
            for (int j = 0; j < n; j++)
            {
                long sum = 0;
                for (int i = 0; i < k; i++) sum += (long)(sbyte)ab[r * k + i] * (sbyte)wb[j * k + i];
                expected[r * n + j] = checked((int)sum);
            }
        });
        return Checks.Equal<int>("int8 x int8 -> int32", expected, c.DownloadInts());
    }
}
