using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// The parsed, checked header of one safetensors file. The rules are the format's own
/// (huggingface/safetensors README "Format" and its Rust reader): an 8-byte little-endian length N,
/// N bytes of UTF-8 JSON that start with '{', a string-to-string <c>__metadata__</c>, no duplicate
/// names, and a data section that the tensors cover exactly, without overlaps or holes (the format
/// forbids holes so that a file cannot double as another format). Every number is checked before use,
/// so a hostile header yields a <see cref="CheckpointException"/>, never a read out of bounds.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The reference reader's limit (MAX_HEADER_SIZE, 100 MB); the largest real headers are a few MB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    private SafetensorsHeader(long headerBytes, IReadOnlyDictionary<string, string> metadata,
        IReadOnlyDictionary<string, SafetensorsEntry> entries)
    {
        HeaderBytes = headerBytes;
        Metadata = metadata;
        Entries = entries;
    }

    /// <summary>N: the JSON's length, so the data section starts at 8 + N.</summary>
    public long HeaderBytes { get; }

    public long DataOffset => 8 + HeaderBytes;

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    /// <summary>Reads and checks the header of <paramref name="file"/>, <paramref name="fileLength"/> bytes long.</summary>
    public static SafetensorsHeader Read(SafeFileHandle file, long fileLength, string path)
    {
        if (fileLength < 8)
            throw new CheckpointException(path, null, $"file is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(file, prefix, 0, path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > MaxHeaderBytes)
            throw new CheckpointException(path, null, $"header length {n} exceeds the {MaxHeaderBytes}-byte limit");
        if ((long)n > fileLength - 8)
            throw new CheckpointException(path, null, $"header length {n} runs past the end of the {fileLength}-byte file");

        var json = new byte[(int)n];
        ReadExactly(file, json, 8, path);
        return Parse(json, fileLength - 8 - (long)n, path);
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> into, long at, string path)
    {
        while (!into.IsEmpty)
        {
            int got = RandomAccess.Read(file, into, at);
            if (got == 0) throw new CheckpointException(path, null, $"file ended at byte {at} inside the header");
            into = into[got..];
            at += got;
        }
    }

    /// <summary>Checks <paramref name="json"/> against a data section of <paramref name="dataLength"/> bytes.</summary>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> json, long dataLength, string path)
    {
        if (json.Length == 0 || json[0] != (byte)'{')
            throw new CheckpointException(path, null, "header is not a JSON object (the format requires it to start with '{')");

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, null, $"header is not valid JSON: {CheckpointException.Clip(e.Message)}", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(path, null, $"header is a JSON {doc.RootElement.ValueKind}, not an object");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == MetadataKey)
                {
                    if (sawMetadata) throw new CheckpointException(path, MetadataKey, "appears twice in the header");
                    sawMetadata = true;
                    ReadMetadata(prop.Value, metadata, path);
                    continue;
                }
                if (entries.ContainsKey(prop.Name))
                    throw new CheckpointException(path, prop.Name, "tensor appears twice in the header");
                entries.Add(prop.Name, ReadEntry(prop.Name, prop.Value, dataLength, path));
            }
            CheckCoverage(entries.Values, dataLength, path);
            return new SafetensorsHeader(json.Length, metadata, entries);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> into, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, MetadataKey, $"must be an object of strings, got {Describe(value)}");
        foreach (var kv in value.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointException(path, $"{MetadataKey}.{kv.Name}",
                    $"metadata values must be strings, got {Describe(kv.Value)}");
            if (!into.TryAdd(kv.Name, kv.Value.GetString()!))
                throw new CheckpointException(path, $"{MetadataKey}.{kv.Name}", "appears twice in the metadata");
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, long dataLength, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new CheckpointException(path, name, $"tensor entry must be an object, got {Describe(value)}");

        if (!value.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new CheckpointException(path, name, "tensor entry has no string 'dtype'");
        string dtypeName = dtypeEl.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeName, out var dtype))
            throw new CheckpointException(path, name,
                $"unknown dtype '{CheckpointException.Clip(dtypeName)}' (known: BF16, F16, F32, F8_E4M3, F8_E5M2, I8, U8, I32, I64, BOOL)");

        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new CheckpointException(path, name, "tensor entry has no array 'shape'");
        var shape = new long[shapeEl.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim))
                throw new CheckpointException(path, name, $"shape[{i}] is {Describe(d)}, not an integer");
            if (dim < 0)
                throw new CheckpointException(path, name, $"shape[{i}] is {dim}, a negative dimension");
            shape[i++] = dim;
            try { elements = checked(elements * dim); }
            catch (OverflowException) { throw new CheckpointException(path, name, "shape's element count overflows 64 bits"); }
        }

        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array
            || offEl.GetArrayLength() != 2)
            throw new CheckpointException(path, name, "tensor entry has no 'data_offsets' pair [begin, end]");
        if (!offEl[0].TryGetInt64OrFalse(out long begin) || !offEl[1].TryGetInt64OrFalse(out long end) || begin < 0 || end < 0)
            throw new CheckpointException(path, name,
                $"data_offsets {CheckpointException.Clip(offEl.GetRawText())} are not two non-negative integers");
        if (end < begin)
            throw new CheckpointException(path, name, $"data_offsets [{begin}, {end}) end before they begin");
        if (end > dataLength)
            throw new CheckpointException(path, name,
                $"data_offsets [{begin}, {end}) run past the {dataLength}-byte data section");

        long expected;
        try { expected = checked(elements * dtype.ElementSize()); }
        catch (OverflowException) { throw new CheckpointException(path, name, "shape's byte count overflows 64 bits"); }
        if (end - begin != expected)
            throw new CheckpointException(path, name,
                $"holds {end - begin} bytes but {dtype.HeaderName()} [{string.Join(", ", shape)}] needs {expected}");

        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static void CheckCoverage(IEnumerable<SafetensorsEntry> entries, long dataLength, string path)
    {
        long cursor = 0;
        SafetensorsEntry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < cursor)
                throw new CheckpointException(path, e.Name,
                    $"bytes [{e.Begin}, {e.End}) overlap '{CheckpointException.Clip(previous!.Name)}' [{previous.Begin}, {previous.End})");
            if (e.Begin > cursor)
                throw new CheckpointException(path, e.Name,
                    $"a hole of {e.Begin - cursor} bytes at [{cursor}, {e.Begin}) precedes it; the format requires the data to be covered");
            cursor = e.End;
            previous = e;
        }
        if (cursor != dataLength)
            throw new CheckpointException(path, null,
                $"data section is {dataLength} bytes but tensors cover only [0, {cursor}); the trailing bytes are a hole");
    }

    private static string Describe(JsonElement e) =>
        $"{e.ValueKind.ToString().ToLowerInvariant()} {CheckpointException.Clip(e.GetRawText())}";
}
