using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace GraphEngine.Tests.Models.Checkpoints;

/// <summary>
/// Writes safetensors files the way the reference writer does (tensors back to back in insertion order,
/// header padded with spaces to 8 bytes), plus raw writers for the malformed files the reader must refuse.
/// </summary>
internal sealed class SafetensorsTestWriter
{
    private readonly List<(string Name, string DType, long[] Shape, byte[] Data)> _tensors = new();
    private readonly Dictionary<string, string> _metadata = new();

    public SafetensorsTestWriter Add(string name, string dtype, long[] shape, byte[] data)
    {
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    /// <summary>A tensor of random bytes, sized from the shape and element size.</summary>
    public byte[] AddRandom(string name, string dtype, params long[] shape)
    {
        long bytes = shape.Aggregate(1L, (a, d) => a * d) * ElementSize(dtype);
        var data = new byte[bytes];
        Random.Shared.NextBytes(data);
        Add(name, dtype, shape, data);
        return data;
    }

    public SafetensorsTestWriter Meta(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    public IEnumerable<string> Names => _tensors.Select(t => t.Name);

    public string HeaderJson()
    {
        var header = new Dictionary<string, object>();
        if (_metadata.Count > 0) header["__metadata__"] = _metadata;
        long at = 0;
        foreach (var (name, dtype, shape, data) in _tensors)
        {
            header[name] = new { dtype, shape, data_offsets = new[] { at, at + data.Length } };
            at += data.Length;
        }
        return JsonSerializer.Serialize(header);
    }

    public byte[] Data() => _tensors.SelectMany(t => t.Data).ToArray();

    public string Write(string path)
    {
        WriteRaw(path, HeaderJson(), Data());
        return path;
    }

    /// <summary>8-byte length, the header padded with spaces to a multiple of 8, then the data.</summary>
    public static void WriteRaw(string path, string headerJson, byte[] data, ulong? lengthOverride = null)
    {
        var json = Encoding.UTF8.GetBytes(headerJson);
        int padded = (json.Length + 7) / 8 * 8;
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, lengthOverride ?? (ulong)padded);
        f.Write(len);
        f.Write(json);
        for (int i = json.Length; i < padded; i++) f.WriteByte((byte)' ');
        f.Write(data);
    }

    public static int ElementSize(string dtype) => dtype switch
    {
        "BF16" or "F16" => 2,
        "F32" or "I32" => 4,
        "I64" => 8,
        _ => 1,
    };
}
