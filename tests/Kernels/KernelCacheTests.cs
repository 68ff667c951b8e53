using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Kernels;

public sealed class KernelCacheTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ge-cache-test-{Guid.NewGuid():N}");
    private const string Key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static byte[] Payload(int n)
    {
        var b = new byte[n];
        new Random(n).NextBytes(b);
        return b;
    }

    [Fact]
    public void Stored_entry_round_trips_through_a_fresh_instance_and_leaves_no_temp_files()
    {
        var cubin = Payload(5000);
        new KernelCache(_dir).Store(Key, "_Z6kernelIfEvPT_", cubin);
        Assert.True(new KernelCache(_dir).TryLoad(Key, out var lowered, out var loaded));
        Assert.Equal("_Z6kernelIfEvPT_", lowered);
        Assert.Equal(cubin, loaded);
        Assert.Equal(new[] { Key + ".cubin" }, Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("flip-payload")]
    [InlineData("flip-hash")]
    [InlineData("truncate")]
    [InlineData("bad-magic")]
    [InlineData("empty")]
    public void Corrupt_entries_are_detected_deleted_and_reported(string damage)
    {
        var cache = new KernelCache(_dir);
        cache.Store(Key, "k", Payload(777));
        string path = cache.PathFor(Key);
        var bytes = File.ReadAllBytes(path);
        bytes = damage switch
        {
            "flip-payload" => Flip(bytes, bytes.Length - 3),
            "flip-hash" => Flip(bytes, 12),
            "truncate" => bytes[..^100],
            "bad-magic" => Flip(bytes, 0),
            _ => Array.Empty<byte>(),
        };
        File.WriteAllBytes(path, bytes);
        var fresh = new KernelCache(_dir);
        Assert.False(fresh.TryLoad(Key, out _, out _));
        Assert.Equal(1, fresh.CorruptEntries);
        Assert.False(File.Exists(path));
        Assert.False(fresh.TryLoad(Key, out _, out _));      // now simply a miss
        Assert.Equal(1, fresh.CorruptEntries);

        static byte[] Flip(byte[] b, int i)
        {
            b[i] ^= 0x40;
            return b;
        }
    }

    [Fact]
    public void Missing_directory_is_a_miss_and_keys_must_be_hex()
    {
        var cache = new KernelCache(Path.Combine(_dir, "never-created"));
        Assert.False(cache.TryLoad(Key, out _, out _));
        var e = Assert.Throws<ArgumentException>(() => cache.PathFor("../escape"));
        Assert.Contains("../escape", e.Message);
    }

    [Fact]
    public void Default_directory_honours_the_environment()
    {
        string? saved = Environment.GetEnvironmentVariable("GRAPHENGINE_KERNEL_CACHE");
        try
        {
            Environment.SetEnvironmentVariable("GRAPHENGINE_KERNEL_CACHE", _dir);
            Assert.Equal(_dir, KernelCache.DefaultDirectory());
            Environment.SetEnvironmentVariable("GRAPHENGINE_KERNEL_CACHE", null);
            Assert.EndsWith(Path.Combine("graphengine", "kernels"), KernelCache.DefaultDirectory());
        }
        finally
        {
            Environment.SetEnvironmentVariable("GRAPHENGINE_KERNEL_CACHE", saved);
        }
    }
}
