using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// Turns one raw CUPTI activity record into a <see cref="KernelRecord"/> by reading fields at the offsets of a
/// <see cref="CuptiRecordLayout"/>. Pure pointer reads, so tests can feed it records laid out by hand.
/// </summary>
internal static unsafe class CuptiRecordDecoder
{
    /// <summary>
    /// Decodes <paramref name="record"/>; false for kinds this tracer does not collect and for records CUPTI could
    /// not time (start and end both 0, as its headers document). <paramref name="names"/> caches kernel names by
    /// pointer: CUPTI shares one name string across all records of a kernel, and a step has thousands of records.
    /// </summary>
    public static bool TryDecode(byte* record, CuptiRecordLayout layout, Dictionary<nint, string> names,
        out KernelRecord decoded)
    {
        decoded = default;
        int kind = Read<int>(record, 0);
        switch (kind)
        {
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_KERNEL:
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
            {
                ulong start = Read<ulong>(record, layout.KernelStart), end = Read<ulong>(record, layout.KernelEnd);
                if (start == 0 && end == 0) return false;
                decoded = new KernelRecord(NameAt(Read<nint>(record, layout.KernelName), names), start, end,
                    Read<uint>(record, layout.KernelStreamId))
                {
                    CorrelationId = Read<uint>(record, layout.KernelCorrelationId),
                    DeviceId = Read<uint>(record, layout.KernelDeviceId),
                    ContextId = Read<uint>(record, layout.KernelContextId),
                    GraphId = Read<uint>(record, layout.KernelGraphId),
                    GraphNodeId = Read<ulong>(record, layout.KernelGraphNodeId),
                    GridX = Read<int>(record, layout.KernelGridX),
                    GridY = Read<int>(record, layout.KernelGridX + 4),
                    GridZ = Read<int>(record, layout.KernelGridX + 8),
                    BlockX = Read<int>(record, layout.KernelBlockX),
                    BlockY = Read<int>(record, layout.KernelBlockX + 4),
                    BlockZ = Read<int>(record, layout.KernelBlockX + 8),
                };
                return true;
            }
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_MEMCPY:
            {
                ulong start = Read<ulong>(record, layout.CopyStart), end = Read<ulong>(record, layout.CopyEnd);
                if (start == 0 && end == 0) return false;
                decoded = new KernelRecord("memcpy " + CopyKindName(Read<byte>(record, layout.CopyKind)), start, end,
                    Read<uint>(record, layout.CopyStreamId), RecordKind.Memcpy)
                {
                    CorrelationId = Read<uint>(record, layout.CopyCorrelationId),
                    DeviceId = Read<uint>(record, layout.CopyDeviceId),
                    ContextId = Read<uint>(record, layout.CopyContextId),
                    GraphId = Read<uint>(record, layout.CopyGraphId),
                    GraphNodeId = Read<ulong>(record, layout.CopyGraphNodeId),
                    Bytes = Read<ulong>(record, layout.CopyBytes),
                };
                return true;
            }
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_MEMSET:
            {
                ulong start = Read<ulong>(record, layout.SetStart), end = Read<ulong>(record, layout.SetEnd);
                if (start == 0 && end == 0) return false;
                decoded = new KernelRecord("memset", start, end, Read<uint>(record, layout.SetStreamId), RecordKind.Memset)
                {
                    CorrelationId = Read<uint>(record, layout.SetCorrelationId),
                    DeviceId = Read<uint>(record, layout.SetDeviceId),
                    ContextId = Read<uint>(record, layout.SetContextId),
                    GraphId = Read<uint>(record, layout.SetGraphId),
                    GraphNodeId = Read<ulong>(record, layout.SetGraphNodeId),
                    Bytes = Read<ulong>(record, layout.SetBytes),
                };
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary>CUpti_ActivityMemcpyKind, in the short form nsys prints.</summary>
    public static string CopyKindName(byte kind) => kind switch
    {
        1 => "HtoD",
        2 => "DtoH",
        3 => "HtoA",
        4 => "AtoH",
        5 => "AtoA",
        6 => "AtoD",
        7 => "DtoA",
        8 => "DtoD",
        9 => "HtoH",
        10 => "PtoP",
        _ => "unknown",
    };

    private static string NameAt(nint p, Dictionary<nint, string> names)
    {
        if (p == 0) return "(unnamed)";
        if (!names.TryGetValue(p, out var name))
        {
            name = Marshal.PtrToStringUTF8(p) ?? "(unnamed)";
            names[p] = name;
        }
        return name;
    }

    private static T Read<T>(byte* record, int offset) where T : unmanaged => Unsafe.ReadUnaligned<T>(record + offset);
}
