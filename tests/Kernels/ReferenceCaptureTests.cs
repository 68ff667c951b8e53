using GraphEngine.Kernels.Random;

namespace GraphEngine.Tests.Kernels;

public class ReferenceCaptureTests
{
    [Fact]
    public void Captured_work_replays_with_current_device_values()
    {
        using var device = new ReferenceDevice();
        using var stream = device.CreateStream();
        using var buf = device.AllocateTensor(DType.F32, new long[] { 1000 }, out var t);
        var fill = RandomFill.Create(device);

        stream.BeginCapture();
        fill.Uniform(stream, t, seed: 7, scale: 2f);
        Assert.Throws<StreamCaptureException>(() => t.DownloadFloats());   // host read inside capture
        using var graph = stream.EndCapture();
        Assert.Equal(1, graph.NodeCount);

        t.UploadFloats(new float[1000]);            // the capture itself did not run the work
        graph.Launch(stream);
        var values = t.DownloadFloats();
        Assert.Equal(RandomFill.UniformValue(999, 7, 2f, 0f), values[999]);
        Assert.All(values, v => Assert.InRange(v, -2f, 2f));
        Assert.True(values.Distinct().Count() > 990, "uniform fill should not repeat values");
    }

    [Fact]
    public void Allocation_during_capture_is_refused_with_the_tag()
    {
        using var device = new ReferenceDevice();
        var stream = device.DefaultStream;
        stream.BeginCapture();
        var e = Assert.Throws<StreamCaptureException>(() => device.Allocate(64, "workspace"));
        Assert.Contains("capturing", e.Message);
        stream.AbortCapture();
        Assert.False(stream.IsCapturing);
        using var ok = device.Allocate(64, "after");
    }
}
