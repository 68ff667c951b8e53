using System.Runtime.InteropServices;
using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Tests.Kernels.Profiling;

public sealed unsafe class CuptiRecordLayoutTests
{
    // CUpti_ActivityKernel9 as declared in cupti_activity.h (CUDA 12.6), up to graphId: the C compiler's sequential
    // layout, here reproduced by the CLR's, is the independent check of the hand-computed offsets.
    [StructLayout(LayoutKind.Sequential, Pack = 8)]
    private struct Kernel9Prefix
    {
        public int Kind; public byte CacheConfig; public byte SharedMemoryConfig; public ushort RegistersPerThread;
        public int PartitionedRequested; public int PartitionedExecuted;
        public ulong Start; public ulong End; public ulong Completed;
        public uint DeviceId; public uint ContextId; public uint StreamId;
        public int GridX; public int GridY; public int GridZ; public int BlockX; public int BlockY; public int BlockZ;
        public int StaticShared; public int DynamicShared; public uint LocalPerThread; public uint LocalTotal;
        public uint CorrelationId; public long GridId; public IntPtr Name; public IntPtr Reserved0;
        public ulong Queued; public ulong Submitted;
        public byte LaunchType; public byte CarveoutRequested; public byte Carveout; public byte Padding;
        public uint SharedExecuted; public ulong GraphNodeId; public int ShmemLimitConfig; public uint GraphId;
    }

    // CUpti_ActivityMemcpy5 (CUDA 12.6) up to graphId; LP64 keeps the pad after runtimeCorrelationId.
    [StructLayout(LayoutKind.Sequential, Pack = 8)]
    private struct Memcpy5Prefix
    {
        public int Kind; public byte CopyKind; public byte SrcKind; public byte DstKind; public byte Flags;
        public ulong Bytes; public ulong Start; public ulong End;
        public uint DeviceId; public uint ContextId; public uint StreamId; public uint CorrelationId;
        public uint RuntimeCorrelationId; public uint Pad; public IntPtr Reserved0; public ulong GraphNodeId; public uint GraphId;
    }

    // CUpti_ActivityMemset4 (CUDA 12.6) up to graphId.
    [StructLayout(LayoutKind.Sequential, Pack = 8)]
    private struct Memset4Prefix
    {
        public int Kind; public uint Value; public ulong Bytes; public ulong Start; public ulong End;
        public uint DeviceId; public uint ContextId; public uint StreamId; public uint CorrelationId;
        public ushort Flags; public ushort MemoryKind; public uint Pad; public IntPtr Reserved0;
        public ulong GraphNodeId; public uint GraphId;
    }

    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    /// <summary>Every offset of <paramref name="offsets"/> is where struct <typeparamref name="T"/> has the field of that name.</summary>
    private static void AssertOffsets<T>(ActivityOffsets offsets)
    {
        foreach (var p in typeof(ActivityOffsets).GetProperties())
            Assert.True(Off<T>(p.Name) == (int)p.GetValue(offsets)!, $"{typeof(T).Name}.{p.Name}: {p.GetValue(offsets)}, struct {Off<T>(p.Name)}");
    }

    [Theory]
    [InlineData(19u)]
    [InlineData(24u)]
    [InlineData(28u)]
    [InlineData(130000u)]
    [InlineData(130001u)]
    public void Known_versions_map_to_the_header_offsets(uint version)
    {
        var l = CuptiRecordLayout.For(version);
        AssertOffsets<Kernel9Prefix>(l.Kernel);
        Assert.Equal(Off<Kernel9Prefix>("GridX"), l.KernelGridX);
        Assert.Equal(Off<Kernel9Prefix>("BlockX"), l.KernelBlockX);
        Assert.Equal(Off<Kernel9Prefix>("Name"), l.KernelName);
        Assert.Equal((16, 24, 48, 92, 104, 144, 156), (l.Kernel.Start, l.Kernel.End, l.Kernel.StreamId,
            l.Kernel.CorrelationId, l.KernelName, l.Kernel.GraphNodeId, l.Kernel.GraphId));

        Assert.Equal(Off<Memcpy5Prefix>("CopyKind"), l.CopyKind);
        Assert.Equal(Off<Memcpy5Prefix>("Bytes"), l.CopyBytes);
        AssertOffsets<Memcpy5Prefix>(l.Copy);
        Assert.Equal(Off<Memset4Prefix>("Bytes"), l.SetBytes);
        AssertOffsets<Memset4Prefix>(l.Set);
    }

    [Theory]
    [InlineData(18u)]
    [InlineData(25u)]
    [InlineData(29u)]
    [InlineData(130100u)]
    [InlineData(130200u)]
    public void Unknown_version_is_refused_in_one_line_naming_it_and_the_supported_ones(uint version)
    {
        Assert.False(CuptiRecordLayout.TryFor(version, out _));
        var e = Assert.Throws<ProfilerUnavailableException>(() => CuptiRecordLayout.For(version));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains($"version {version} ", e.Message);
        Assert.Contains("19-24 and 26-28 (CUDA 12.0-12.9)", e.Message);
        Assert.Contains("130000-130001 (CUDA 13.0)", e.Message);
    }

    [Fact]
    public void Decoder_reads_a_kernel_record_laid_out_as_the_header_declares()
    {
        var layout = CuptiRecordLayout.For(130000);
        var name = Marshal.StringToCoTaskMemUTF8("_Z8rms_normIfEvPT_");
        try
        {
            var k = new Kernel9Prefix
            {
                Kind = 10, Start = 123_456_789_000, End = 123_456_790_250, DeviceId = 2, ContextId = 5, StreamId = 13,
                GridX = 111, GridY = 3, GridZ = 1, BlockX = 256, BlockY = 2, BlockZ = 1, CorrelationId = 4242,
                GridId = -1, Name = name, GraphNodeId = 0x1_0000_0007, GraphId = 77, Completed = 999, Queued = 1,
            };
            var names = new Dictionary<nint, string>();
            Assert.True(CuptiRecordDecoder.TryDecode((byte*)&k, layout, names, out var r));
            Assert.Equal(new KernelRecord("_Z8rms_normIfEvPT_", 123_456_789_000, 123_456_790_250, 13)
            {
                CorrelationId = 4242, DeviceId = 2, ContextId = 5, GraphId = 77, GraphNodeId = 0x1_0000_0007,
                GridX = 111, GridY = 3, GridZ = 1, BlockX = 256, BlockY = 2, BlockZ = 1,
            }, r);
            Assert.Equal(1250UL, r.DurationNs);
            Assert.Single(names);
        }
        finally
        {
            Marshal.FreeCoTaskMem(name);
        }
    }

    [Fact]
    public void Decoder_reads_memcpy_and_memset_records_and_skips_untimed_and_other_kinds()
    {
        var layout = CuptiRecordLayout.For(24);
        var names = new Dictionary<nint, string>();
        var c = new Memcpy5Prefix
        {
            Kind = 1, CopyKind = 8, Bytes = 1 << 20, Start = 1000, End = 3000, DeviceId = 1, ContextId = 2, StreamId = 3,
            CorrelationId = 9, RuntimeCorrelationId = 8, GraphNodeId = 55, GraphId = 6,
        };
        Assert.True(CuptiRecordDecoder.TryDecode((byte*)&c, layout, names, out var rc));
        Assert.Equal(new KernelRecord("memcpy DtoD", 1000, 3000, 3, RecordKind.Memcpy)
        {
            CorrelationId = 9, DeviceId = 1, ContextId = 2, GraphId = 6, GraphNodeId = 55, Bytes = 1 << 20,
        }, rc);

        var s = new Memset4Prefix
        {
            Kind = 2, Value = 0xFF, Bytes = 777, Start = 10, End = 11, StreamId = 4, CorrelationId = 12, GraphId = 3,
        };
        Assert.True(CuptiRecordDecoder.TryDecode((byte*)&s, layout, names, out var rs));
        Assert.Equal(("memset", RecordKind.Memset, 777UL, 4u, 12u, 3u), (rs.Name, rs.Kind, rs.Bytes, rs.StreamId,
            rs.CorrelationId, rs.GraphId));

        var untimed = new Kernel9Prefix { Kind = 10 };
        Assert.False(CuptiRecordDecoder.TryDecode((byte*)&untimed, layout, names, out _));
        var driverApi = new Kernel9Prefix { Kind = 4, Start = 1, End = 2 };
        Assert.False(CuptiRecordDecoder.TryDecode((byte*)&driverApi, layout, names, out _));
    }

    [Fact]
    public void Mirror_structs_have_the_header_sizes_up_to_graph_id()
    {
        // graphId is the last field read: 156 + 4 in Kernel9, 72 + 4 in Memcpy5 and Memset4, rounded to 8.
        Assert.Equal(160, Marshal.SizeOf<Kernel9Prefix>());
        Assert.Equal(80, Marshal.SizeOf<Memcpy5Prefix>());
        Assert.Equal(80, Marshal.SizeOf<Memset4Prefix>());
        Assert.Equal("memcpy HtoD", "memcpy " + CuptiRecordDecoder.CopyKindName(1));
    }
}
