using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    /// <summary>
    /// CUPTI's activity API (libcupti.so.13, else .12): GPU-side start and end times of every kernel, memcpy and
    /// memset, delivered in buffers the caller lends. Signatures and enum values from cupti_activity.h,
    /// cupti_result.h and cupti_version.h (CUDA 12.6 headers; unchanged in the CUDA 13.0 headers). The record
    /// layouts read out of those buffers live in <see cref="Profiling.CuptiRecordLayout"/>.
    /// </summary>
    internal static unsafe partial class Cupti
    {
        internal const int CUPTI_SUCCESS = 0;
        internal const int CUPTI_ERROR_INVALID_PARAMETER = 1;

        // cuptiActivityGetNextRecord's "no more records in this buffer": the normal end of a walk, not a failure.
        internal const int CUPTI_ERROR_MAX_LIMIT_REACHED = 12;

        // CUpti_ActivityKind values; stable since CUDA 5 and the same in the 12.x and 13.0 headers.
        internal const int CUPTI_ACTIVITY_KIND_MEMCPY = 1;
        internal const int CUPTI_ACTIVITY_KIND_MEMSET = 2;
        internal const int CUPTI_ACTIVITY_KIND_KERNEL = 3;
        internal const int CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL = 10;

        // CUpti_ActivityFlag: forces out buffers that are only partly filled, so Stop sees the last kernels.
        internal const uint CUPTI_ACTIVITY_FLAG_FLUSH_FORCED = 1;

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiGetVersion")]
        internal static partial int cuptiGetVersion(uint* version);

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiGetResultString")]
        internal static partial int cuptiGetResultString(int result, byte** str);

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiActivityEnable")]
        internal static partial int cuptiActivityEnable(int kind);

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiActivityDisable")]
        internal static partial int cuptiActivityDisable(int kind);

        /// <summary>
        /// Registers the buffer callbacks: requested(uint8_t** buffer, size_t* size, size_t* maxNumRecords) and
        /// completed(CUcontext ctx, uint32_t streamId, uint8_t* buffer, size_t size, size_t validSize). CUPTIAPI is
        /// empty on Linux, so both are the platform's C convention.
        /// </summary>
        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiActivityRegisterCallbacks")]
        internal static partial int cuptiActivityRegisterCallbacks(
            delegate* unmanaged[Cdecl]<byte**, nuint*, nuint*, void> bufferRequested,
            delegate* unmanaged[Cdecl]<IntPtr, uint, byte*, nuint, nuint, void> bufferCompleted);

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiActivityFlushAll")]
        internal static partial int cuptiActivityFlushAll(uint flag);

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiActivityGetNextRecord")]
        internal static partial int cuptiActivityGetNextRecord(byte* buffer, nuint validBufferSizeBytes, byte** record);

        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiActivityGetNumDroppedRecords")]
        internal static partial int cuptiActivityGetNumDroppedRecords(IntPtr context, uint streamId, nuint* dropped);

        /// <summary>Nanoseconds on the clock the activity records use, so host marks and GPU times compare.</summary>
        [LibraryImport(Libraries.Cupti, EntryPoint = "cuptiGetTimestamp")]
        internal static partial int cuptiGetTimestamp(ulong* timestamp);
    }
}
