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
        switch (Read<int>(record, 0))
        {
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_KERNEL:
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
                if (!TryDecodeTimed(record, layout.Kernel, RecordKind.Kernel, out decoded)) return false;
                decoded = decoded with
                {
                    Name = NameAt(Read<nint>(record, layout.KernelName), names),
                    GridX = Read<int>(record, layout.KernelGridX),
                    GridY = Read<int>(record, layout.KernelGridX + 4),
                    GridZ = Read<int>(record, layout.KernelGridX + 8),
                    BlockX = Read<int>(record, layout.KernelBlockX),
                    BlockY = Read<int>(record, layout.KernelBlockX + 4),
                    BlockZ = Read<int>(record, layout.KernelBlockX + 8),
                };
                return true;
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_MEMCPY:
                if (!TryDecodeTimed(record, layout.Copy, RecordKind.Memcpy, out decoded)) return false;
                decoded = decoded with
                {
                    Name = "memcpy " + CopyKindName(Read<byte>(record, layout.CopyKind)),
                    Bytes = Read<ulong>(record, layout.CopyBytes),
                };
                return true;
            case Interop.Cupti.CUPTI_ACTIVITY_KIND_MEMSET:
                if (!TryDecodeTimed(record, layout.Set, RecordKind.Memset, out decoded)) return false;
                decoded = decoded with { Name = "memset", Bytes = Read<ulong>(record, layout.SetBytes) };
                return true;
            default:
                decoded = default;
                return false;
        }
    }

    /// <summary>The fields all kinds share; false, as <see cref="TryDecode"/>, for a record CUPTI could not time.</summary>
    private static bool TryDecodeTimed(byte* record, ActivityOffsets at, RecordKind kind, out KernelRecord decoded)
    {
        decoded = default;
        ulong start = Read<ulong>(record, at.Start), end = Read<ulong>(record, at.End);
        if (start == 0 && end == 0) return false;
        decoded = new KernelRecord("", start, end, Read<uint>(record, at.StreamId), kind)
        {
            CorrelationId = Read<uint>(record, at.CorrelationId),
            DeviceId = Read<uint>(record, at.DeviceId),
            ContextId = Read<uint>(record, at.ContextId),
            GraphId = Read<uint>(record, at.GraphId),
            GraphNodeId = Read<ulong>(record, at.GraphNodeId),
        };
        return true;
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
