using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Tests.Kernels.Profiling;

public sealed class CuptiTracerTests
{
    private static bool CuptiPresent => Interop.Libraries.TryLoad(Interop.Libraries.Cupti, out _);

    [Fact]
    public void Without_libcupti_Create_throws_one_line_naming_the_library_and_the_paths_tried()
    {
        if (CuptiPresent) return; // the GPU machine has libcupti; this test is about the machines that do not
        var e = Assert.Throws<ProfilerUnavailableException>(() => CuptiTracer.Create());
        Assert.Contains("libcupti.so.13", e.Message);
        Assert.Contains("libcupti.so.12", e.Message);
        Assert.Contains("/usr/local/cuda/extras/CUPTI/lib64/libcupti.so.12", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(CuptiTracer.TryCreate(out var tracer, out var why));
        Assert.Null(tracer);
        Assert.Equal(e.Message, why);
    }

    [Fact]
    public void Candidates_put_so13_before_so12_and_honour_CUDA_HOME_style_roots()
    {
        var c = Interop.Libraries.CandidatesFor(Interop.Libraries.Cupti);
        Assert.Equal("libcupti.so.13", c[0]);
        int first12 = c.ToList().FindIndex(p => p.EndsWith("libcupti.so.12", StringComparison.Ordinal));
        Assert.True(c.Take(first12).All(p => p.EndsWith("libcupti.so.13", StringComparison.Ordinal)));
        Assert.Contains("/usr/local/cuda/targets/x86_64-linux/lib/libcupti.so.13", c);
        Assert.Contains("/usr/local/cuda/lib64/libcupti.so.12", c);
    }

    [Fact]
    public void On_a_machine_with_CUPTI_a_second_Start_is_refused_while_the_first_runs()
    {
        if (!CuptiTracer.TryCreate(out var a, out _)) return; // needs libcupti and a known version
        using (a)
        using (var b = CuptiTracer.Create())
        {
            try { a.Start(); }
            catch (ProfilerUnavailableException) { return; } // no usable GPU behind the library
            var e = Assert.Throws<InvalidOperationException>(() => b.Start());
            Assert.Contains("already running", e.Message);
            Assert.NotNull(a.Stop());
            Assert.Equal(0, CuptiTracer.OutstandingBuffers);
        }
    }
}
