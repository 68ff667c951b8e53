using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    internal static unsafe partial class CuDriver
    {
        internal const uint CU_STREAM_NON_BLOCKING = 1;

        // CUstreamCaptureMode
        internal const int CU_STREAM_CAPTURE_MODE_GLOBAL = 0;
        internal const int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
        internal const int CU_STREAM_CAPTURE_MODE_RELAXED = 2;

        // CUstreamCaptureStatus
        internal const int CU_STREAM_CAPTURE_STATUS_NONE = 0;
        internal const int CU_STREAM_CAPTURE_STATUS_ACTIVE = 1;
        internal const int CU_STREAM_CAPTURE_STATUS_INVALIDATED = 2;

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuStreamCreate")]
        internal static partial int cuStreamCreate(IntPtr* stream, uint flags);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuStreamDestroy_v2")]
        internal static partial int cuStreamDestroy(IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuStreamSynchronize")]
        internal static partial int cuStreamSynchronize(IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuStreamBeginCapture_v2")]
        internal static partial int cuStreamBeginCapture(IntPtr stream, int mode);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuStreamEndCapture")]
        internal static partial int cuStreamEndCapture(IntPtr stream, IntPtr* graph);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuStreamIsCapturing")]
        internal static partial int cuStreamIsCapturing(IntPtr stream, int* status);
    }
}
