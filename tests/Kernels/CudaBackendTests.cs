using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Kernels;

/// <summary>What the CUDA layer guarantees without a GPU: library resolution, errors, cache and options.</summary>
public class CudaBackendTests
{
    private static bool HasCuda => NativeLibraryProbe.CudaLoads;

    [Fact]
    public void Missing_driver_library_names_the_library_and_every_path_tried()
    {
        if (HasCuda) return;   // this test speaks about machines without the driver
        var e = Assert.Throws<DeviceUnavailableException>(() => Interop.Libraries.Load(Interop.Libraries.CuDriver));
        Assert.Contains("'cuda'", e.Message);
        Assert.Contains("libcuda.so.1", e.Message);
        Assert.False(CudaDevice.TryOpen(0, null, out var device, out string reason));
        Assert.Null(device);
        Assert.Contains("libcuda.so.1", reason);
        var open = Assert.Throws<DeviceUnavailableException>(() => Device.Open(BackendPreference.Cuda));
        Assert.Contains("libcuda.so.1", open.Message);
    }

    [Fact]
    public void Toolkit_libraries_are_probed_newest_first_and_in_the_toolkit_directories()
    {
        var nvrtc = Interop.Libraries.CandidatesFor(Interop.Libraries.Nvrtc);
        Assert.Equal("libnvrtc.so.13", nvrtc[0]);
        Assert.True(nvrtc.ToList().IndexOf("libnvrtc.so.12") > 0);
        Assert.Contains("/usr/local/cuda/targets/x86_64-linux/lib/libnvrtc.so.13", nvrtc);
        var lt = Interop.Libraries.CandidatesFor(Interop.Libraries.CublasLt);
        Assert.Equal("libcublasLt.so.13", lt[0]);
        Assert.Contains("libcublasLt.so.12", lt);
    }

    [Fact]
    public void Auto_falls_back_to_the_reference_backend_without_a_gpu()
    {
        if (HasCuda) return;
        using var device = Device.Open(BackendPreference.Auto);
        Assert.Equal(BackendKind.Reference, device.Kind);
    }

    [Fact]
    public void Cuda_errors_carry_the_call_text_and_status()
    {
        int status = 2;
        var e = Assert.Throws<CudaException>(() => CudaException.ThrowIfFailed(status));
        Assert.Equal(2, e.Status);
        Assert.Equal("status", e.Call);
        Assert.StartsWith("status failed:", e.Message);
        Assert.Contains("(2)", e.Message);
        CudaException.ThrowIfFailed(0);   // success is silent

        var b = Assert.Throws<CublasException>(() => CublasException.ThrowIfFailed(7));
        Assert.Contains("CUBLAS_STATUS_INVALID_VALUE", b.Message);
        Assert.IsAssignableFrom<GraphEngineException>(b);

        var n = new NvrtcException(6, "compile failed\nlog line", "log line");
        Assert.Equal("log line", n.Log);
        Assert.IsAssignableFrom<GraphEngineException>(n);
    }

    [Theory]
    [InlineData(9, 0, "sm_90a")]
    [InlineData(8, 9, "sm_89")]
    [InlineData(8, 0, "sm_80")]
    [InlineData(10, 0, "sm_100")]
    public void Architecture_has_the_a_suffix_only_on_hopper(int major, int minor, string expected) =>
        Assert.Equal(expected, KernelCompiler.ArchitectureFor(major, minor));

    [Fact]
    public void Include_directories_are_found_with_cccl_or_reported_with_every_path()
    {
        string root = Path.Combine(Path.GetTempPath(), $"ge-cuda-{Guid.NewGuid():N}");
        try
        {
            var e = Assert.Throws<DeviceUnavailableException>(() => KernelCompiler.FindCudaIncludeDirs(new[] { root }));
            Assert.Contains(Path.Combine(root, "include"), e.Message);
            Assert.Contains("CUDA_HOME", e.Message);

            Directory.CreateDirectory(Path.Combine(root, "include", "cccl"));
            File.WriteAllText(Path.Combine(root, "include", "cuda_fp16.h"), "");
            var dirs = KernelCompiler.FindCudaIncludeDirs(new[] { "/nonexistent-cuda", root });
            Assert.Equal(new[] { Path.Combine(root, "include"), Path.Combine(root, "include", "cccl") }, dirs);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Native_sources_are_embedded_and_unknown_names_are_rejected_by_name()
    {
        Assert.Contains("random/random.cu", KernelCompiler.EmbeddedSources.Keys);
        Assert.Contains(KernelCompiler.Headers, h => h.Key == "common.cuh");
        Assert.DoesNotContain(KernelCompiler.Headers, h => h.Key.EndsWith(".cu", StringComparison.Ordinal));
        var e = Assert.Throws<ArgumentException>(() => KernelCompiler.SourceText("rms_nrom.cu"));
        Assert.Contains("rms_nrom.cu", e.Message);
        Assert.Contains("random/random.cu", e.Message);
    }

    [Fact]
    public void Cache_key_changes_with_every_input()
    {
        var headers = new[] { KeyValuePair.Create("common.cuh", "h") };
        string Key(string src = "s", string hdr = "h", string opt = "-O", string kernel = "k", string ver = "13.0", string arch = "sm_90a") =>
            KernelCompiler.CacheKey("a.cu", src, new[] { KeyValuePair.Create("common.cuh", hdr) }, new[] { opt }, kernel, ver, arch);
        string baseKey = Key();
        Assert.Equal(baseKey, KernelCompiler.CacheKey("a.cu", "s", headers, new[] { "-O" }, "k", "13.0", "sm_90a"));
        Assert.Equal(64, baseKey.Length);
        foreach (var other in new[] { Key(src: "t"), Key(hdr: "g"), Key(opt: "-DX=1"), Key(kernel: "k2"), Key(ver: "12.9"), Key(arch: "sm_90") })
            Assert.NotEqual(baseKey, other);
    }
}

internal static class NativeLibraryProbe
{
    public static bool CudaLoads => Interop.Libraries.TryLoad(Interop.Libraries.CuDriver, out _);
}
