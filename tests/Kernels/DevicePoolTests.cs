namespace GraphEngine.Tests.Kernels;

public class DevicePoolTests
{
    [Fact]
    public void Blocks_are_aligned_reused_and_in_use_returns_to_zero()
    {
        using var device = new ReferenceDevice();
        using var pool = new DevicePool(device, initialBytes: 4096, chunkBytes: 4096);
        var a = pool.Rent(100, "a");
        var b = pool.Rent(300, "b");
        Assert.Equal(0ul, a.Ptr.Address % DevicePool.Alignment);
        Assert.Equal(0ul, b.Ptr.Address % DevicePool.Alignment);
        Assert.Equal(256 + 512, pool.InUseBytes);
        a.Dispose();
        var c = pool.Rent(200, "c");            // fits in a's freed slot
        Assert.Equal(a.Ptr, c.Ptr);
        b.Dispose();
        c.Dispose();
        Assert.Equal(0, pool.InUseBytes);
        Assert.Equal(768, pool.PeakBytes);
    }

    [Fact]
    public void Pool_grows_by_chunks_and_releases_all_device_memory()
    {
        using var device = new ReferenceDevice();
        var pool = new DevicePool(device, initialBytes: 1024, chunkBytes: 2048);
        var big = pool.Rent(5000, "big");       // larger than a chunk: its own reservation
        Assert.True(pool.ReservedBytes >= 1024 + 5000);
        big.Dispose();
        pool.Dispose();
        Assert.Equal(0, device.AllocatedBytes);
        Assert.Equal(0, device.LiveAllocations);
    }

    [Fact]
    public void Bad_sizes_name_the_value()
    {
        using var device = new ReferenceDevice();
        using var pool = new DevicePool(device, 0);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(-5, "weights"));
        Assert.Contains("weights", e.Message);
        Assert.Contains("-5", e.Message);
    }
}
