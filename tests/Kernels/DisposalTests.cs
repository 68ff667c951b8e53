namespace GraphEngine.Tests.Kernels;

public class DisposalTests
{
    [Fact]
    public void Disposed_buffer_device_and_graph_throw_object_disposed()
    {
        var device = new ReferenceDevice();
        var buf = device.Allocate(64, "x");
        buf.Dispose();
        buf.Dispose();                                       // released exactly once
        Assert.Equal(0, device.LiveAllocations);
        Assert.Throws<ObjectDisposedException>(() => buf.AsTensor(DType.F32, 4));

        var stream = device.CreateStream();
        stream.BeginCapture();
        stream.Fill8Async(DevicePtr.Null, 0, 0);
        var graph = stream.EndCapture();
        graph.Dispose();
        Assert.Throws<ObjectDisposedException>(() => graph.Launch(stream));

        device.Dispose();
        Assert.Throws<ObjectDisposedException>(() => device.Allocate(64, "after dispose"));
        Assert.Throws<ObjectDisposedException>(() => device.CreateStream());
    }

    [Fact]
    public void Pool_stats_track_rentals_and_return_to_zero()
    {
        using var device = new ReferenceDevice();
        var pool = new DevicePool(device, initialBytes: 1 << 12, chunkBytes: 1 << 12);
        var blocks = Enumerable.Range(1, 5).Select(i => pool.Rent(i * 100, $"b{i}")).ToList();
        long inUse = pool.InUseBytes;
        Assert.Equal(256 + 256 + 512 + 512 + 512, inUse);   // each rounded up to 256
        blocks.ForEach(b => b.Dispose());
        Assert.Equal(0, pool.InUseBytes);
        Assert.Equal(inUse, pool.PeakBytes);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(10, "after dispose"));
        Assert.Equal(0, device.AllocatedBytes);
    }
}
