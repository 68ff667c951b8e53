using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    internal static unsafe partial class CuDriver
    {
        internal const uint CU_EVENT_DEFAULT = 0;

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuEventCreate")]
        internal static partial int cuEventCreate(IntPtr* ev, uint flags);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuEventDestroy_v2")]
        internal static partial int cuEventDestroy(IntPtr ev);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuEventRecord")]
        internal static partial int cuEventRecord(IntPtr ev, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuEventSynchronize")]
        internal static partial int cuEventSynchronize(IntPtr ev);

        // CUDA 12.8 added _v2 (same signature, defined for events recorded in graphs); CUDA 13's header maps to it.
        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuEventElapsedTime_v2")]
        internal static partial int cuEventElapsedTime(float* milliseconds, IntPtr start, IntPtr end);
    }
}
