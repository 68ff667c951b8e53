using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Checkpoints;

public class SafetensorsFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, SafetensorsDType, int, DType?> DTypes() => new()
    {
        { "BF16", SafetensorsDType.BF16, 2, DType.BF16 },
        { "F16", SafetensorsDType.F16, 2, DType.F16 },
        { "F32", SafetensorsDType.F32, 4, DType.F32 },
        { "F8_E4M3", SafetensorsDType.F8E4M3, 1, DType.Fp8E4M3 },
        { "F8_E5M2", SafetensorsDType.F8E5M2, 1, DType.Fp8E5M2 },
        { "I8", SafetensorsDType.I8, 1, DType.I8 },
        { "U8", SafetensorsDType.U8, 1, DType.U8 },
        { "I32", SafetensorsDType.I32, 4, DType.I32 },
        { "I64", SafetensorsDType.I64, 8, DType.I64 },
        { "BOOL", SafetensorsDType.Bool, 1, null },
    };

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Every_dtype_reads_back_byte_exact(string name, SafetensorsDType dtype, int size, DType? kernel)
    {
        var w = new SafetensorsTestWriter();
        var lead = w.AddRandom("lead", "U8", 3); // pushes the tensor under test to an unaligned offset
        var data = w.AddRandom("t", name, 7, 5, 3);
        string path = w.Write(_dir.File("one.safetensors"));

        using var f = SafetensorsFile.Open(path);
        var e = f.Get("t");
        Assert.Equal(dtype, e.DType);
        Assert.Equal(size, e.DType.ElementSize());
        Assert.Equal(name, e.DType.HeaderName());
        Assert.Equal(kernel, e.DType.ToKernelDType());
        Assert.Equal(new long[] { 7, 5, 3 }, e.Shape);
        Assert.Equal(105L, e.ElementCount);
        Assert.Equal(3L, e.Begin);
        Assert.Equal(3L + 105 * size, e.End);
        Assert.True(f.GetSpan(e).SequenceEqual(data));
        Assert.True(f.GetSpan(f.Get("lead")).SequenceEqual(lead));

        var copy = new byte[data.Length];
        f.Read(e, 0, copy);
        Assert.Equal(data, copy);
    }

    [Fact]
    public void Slices_scalars_empty_tensors_and_metadata()
    {
        var w = new SafetensorsTestWriter().Meta("format", "pt").Meta("note", "odd sizes");
        var big = w.AddRandom("big", "BF16", 1001);
        w.Add("empty", "F32", new long[] { 4, 0 }, Array.Empty<byte>());
        var scalar = w.AddRandom("scalar", "F32");
        string path = w.Write(_dir.File("mix.safetensors"));

        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal("odd sizes", f.Metadata["note"]);
        Assert.Equal(3, f.Entries.Count);
        Assert.Equal(0L, f.Get("empty").ByteLength);
        Assert.Empty(f.Get("scalar").Shape);
        Assert.True(f.GetSpan(f.Get("scalar")).SequenceEqual(scalar));
        Assert.True(f.GetSpan(f.Get("big"), 777, 1001).SequenceEqual(big.AsSpan(777, 1001)));
        var part = new byte[13];
        f.Read(f.Get("big"), 1989, part);
        Assert.Equal(big.AsSpan(1989, 13).ToArray(), part);
        Assert.Equal(f.Length, f.DataOffset + f.DataLength);
        Assert.Equal(0, f.DataOffset % 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => f.Read(f.Get("big"), 1990, new byte[13]));
    }

    private CheckpointException Refused(string header, byte[] data, ulong? lengthOverride = null, string file = "bad.safetensors")
    {
        string path = _dir.File(file);
        SafetensorsTestWriter.WriteRaw(path, header, data, lengthOverride);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));
        Assert.StartsWith(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void File_shorter_than_the_length_prefix(int bytes)
    {
        string path = _dir.File("short.safetensors");
        File.WriteAllBytes(path, new byte[bytes]);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path));
        Assert.Equal($"{path}: file is {bytes} bytes, shorter than the 8-byte header length", e.Message);
    }

    [Fact]
    public void Header_length_over_the_limit()
    {
        var e = Refused("{}", Array.Empty<byte>(), lengthOverride: 100_000_001);
        Assert.Contains("header length 100000001 exceeds the 100000000-byte limit", e.Message);
    }

    [Fact]
    public void Header_length_past_end_of_file()
    {
        var e = Refused("{}", new byte[4], lengthOverride: 4096);
        Assert.Contains("header length 4096 runs past the end of the 20-byte file", e.Message);
    }

    /// <summary>Headers with one flaw each: the header, the data section's size, and the reason the message names.</summary>
    public static TheoryData<string, int, string> BadHeaders() => new()
    {
        { "{\"a\": {\"dtype\": ", 0, "header is not valid JSON" },
        { "{\"a\": 1,}", 0, "header is not valid JSON" },
        { "[1, 2]", 0, "header is not a JSON object" },
        { "\"text\"", 0, "header is not a JSON object" },
        { "{" + Entry("w", "F64", "[2]", 0, 16) + "}", 16, "'w': unknown dtype 'F64'" },
        { "{" + Entry("w", "F32", "[3, -2]", 0, 24) + "}", 24, "'w': shape[1] is -2, a negative dimension" },
        { "{" + Entry("w", "BF16", "[3, 5]", 0, 32) + "}", 32, "'w': holds 32 bytes but BF16 [3, 5] needs 30" },
        { "{" + Entry("w", "U8", "[10]", 0, 10) + "}", 6, "'w': data_offsets [0, 10) run past the 6-byte data section" },
        { "{" + Entry("w", "U8", "[0]", 5, 4) + "}", 6, "'w': data_offsets [5, 4) end before they begin" },
        { "{" + Entry("a", "U8", "[8]", 0, 8) + "," + Entry("b", "U8", "[8]", 4, 12) + "}", 12, "'b': bytes [4, 12) overlap 'a' [0, 8)" },
        { "{" + Entry("a", "U8", "[4]", 0, 4) + "," + Entry("b", "U8", "[4]", 6, 10) + "}", 10, "'b': a hole of 2 bytes at [4, 6) precedes it" },
        { "{" + Entry("a", "U8", "[4]", 3, 7) + "}", 7, "'a': a hole of 3 bytes at [0, 3)" },
        { "{" + Entry("a", "U8", "[4]", 0, 4) + "}", 9, "data section is 9 bytes but tensors cover only [0, 4)" },
        { "{" + Entry("a", "U8", "[4]", 0, 4) + "," + Entry("a", "U8", "[4]", 4, 8) + "}", 8, "'a': tensor appears twice in the header" },
        { "{\"__metadata__\":{\"step\":3}," + Entry("a", "U8", "[1]", 0, 1) + "}", 1, "'__metadata__.step': metadata values must be strings, got number 3" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void A_bad_header_is_refused_with_its_reason(string header, int dataBytes, string reason)
    {
        var e = Refused(header, new byte[dataBytes]);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Long_values_are_clipped_in_messages()
    {
        string longName = new('x', 5000);
        var e = Refused("{" + Entry(longName, "Q4_K_M_" + new string('y', 5000), "[1]", 0, 1) + "}", new byte[1]);
        Assert.True(e.Message.Length < 400, $"message is {e.Message.Length} chars");
        Assert.Contains("...", e.Message);
    }
}
