using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// On-disk cache of compiled cubins, one file per key. Each entry carries a SHA-256 of its payload, so a
/// truncated or corrupted file is detected, deleted and rebuilt instead of being handed to the driver.
/// Writes go to a temporary file that is renamed into place, so concurrent processes never see half an entry.
/// </summary>
public sealed class KernelCache
{
    private static readonly byte[] Magic = "GECUBIN1"u8.ToArray();
    private const int HeaderBytes = 8 + 32 + 4;   // magic, payload hash, payload length

    /// <summary>A cache in <paramref name="directory"/>, created on the first store.</summary>
    public KernelCache(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The cache's directory.</summary>
    public string Directory { get; }

    /// <summary>Entries found corrupt (and deleted) since this instance was created.</summary>
    public int CorruptEntries => _corrupt;
    private int _corrupt;

    /// <summary>GRAPHENGINE_KERNEL_CACHE, else $XDG_CACHE_HOME/graphengine/kernels, else ~/.cache/graphengine/kernels.</summary>
    public static string DefaultDirectory()
    {
        if (Environment.GetEnvironmentVariable("GRAPHENGINE_KERNEL_CACHE") is { Length: > 0 } explicitDir) return explicitDir;
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "graphengine", "kernels");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (string.IsNullOrEmpty(home)) home = Path.GetTempPath();
        return Path.Combine(home, ".cache", "graphengine", "kernels");
    }

    /// <summary>The file of <paramref name="key"/> (a hex digest; anything else is an <see cref="ArgumentException"/>).</summary>
    public string PathFor(string key)
    {
        if (string.IsNullOrEmpty(key) || key.Any(c => !char.IsAsciiHexDigit(c)))
            throw new ArgumentException($"cache key '{key}' must be a hex digest", nameof(key));
        return Path.Combine(Directory, key + ".cubin");
    }

    /// <summary>Reads an entry; a missing one is a miss, a corrupt one is deleted and is a miss too.</summary>
    public bool TryLoad(string key, out string loweredName, out byte[] cubin)
    {
        loweredName = "";
        cubin = Array.Empty<byte>();
        string path = PathFor(key);
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        if (!TryDecode(file, out loweredName, out cubin))
        {
            Interlocked.Increment(ref _corrupt);
            Remove(key);
            return false;
        }
        return true;
    }

    /// <summary>Writes <paramref name="cubin"/> and <paramref name="loweredName"/> under <paramref name="key"/> through a temporary file renamed into place.</summary>
    public void Store(string key, string loweredName, ReadOnlySpan<byte> cubin)
    {
        string path = PathFor(key);
        System.IO.Directory.CreateDirectory(Directory);
        byte[] entry = Encode(loweredName, cubin);
        string tmp = Path.Combine(Directory, $".{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(tmp, entry);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Deletes the entry of <paramref name="key"/>, if any.</summary>
    public void Remove(string key)
    {
        try
        {
            File.Delete(PathFor(key));
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    internal static byte[] Encode(string loweredName, ReadOnlySpan<byte> cubin)
    {
        byte[] name = Encoding.UTF8.GetBytes(loweredName);
        var payload = new byte[4 + name.Length + cubin.Length];
        BinaryPrimitives.WriteInt32LittleEndian(payload, name.Length);
        name.CopyTo(payload, 4);
        cubin.CopyTo(payload.AsSpan(4 + name.Length));
        var entry = new byte[HeaderBytes + payload.Length];
        Magic.CopyTo(entry, 0);
        SHA256.HashData(payload, entry.AsSpan(8, 32));
        BinaryPrimitives.WriteInt32LittleEndian(entry.AsSpan(40), payload.Length);
        payload.CopyTo(entry, HeaderBytes);
        return entry;
    }

    internal static bool TryDecode(ReadOnlySpan<byte> entry, out string loweredName, out byte[] cubin)
    {
        loweredName = "";
        cubin = Array.Empty<byte>();
        if (entry.Length < HeaderBytes || !entry[..8].SequenceEqual(Magic)) return false;
        int length = BinaryPrimitives.ReadInt32LittleEndian(entry.Slice(40, 4));
        if (length < 4 || length != entry.Length - HeaderBytes) return false;
        var payload = entry[HeaderBytes..];
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(payload, hash);
        if (!hash.SequenceEqual(entry.Slice(8, 32))) return false;
        int nameLength = BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (nameLength < 0 || nameLength > payload.Length - 4) return false;
        loweredName = Encoding.UTF8.GetString(payload.Slice(4, nameLength));
        cubin = payload[(4 + nameLength)..].ToArray();
        return cubin.Length > 0;
    }
}
