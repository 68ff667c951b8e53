using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    internal static unsafe partial class CuDriver
    {
        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemAlloc_v2")]
        internal static partial int cuMemAlloc(ulong* dptr, nuint bytes);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemFree_v2")]
        internal static partial int cuMemFree(ulong dptr);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemGetInfo_v2")]
        internal static partial int cuMemGetInfo(nuint* free, nuint* total);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemcpyHtoD_v2")]
        internal static partial int cuMemcpyHtoD(ulong dst, void* src, nuint bytes);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemcpyDtoH_v2")]
        internal static partial int cuMemcpyDtoH(void* dst, ulong src, nuint bytes);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemcpyHtoDAsync_v2")]
        internal static partial int cuMemcpyHtoDAsync(ulong dst, void* src, nuint bytes, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemcpyDtoHAsync_v2")]
        internal static partial int cuMemcpyDtoHAsync(void* dst, ulong src, nuint bytes, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemcpyDtoDAsync_v2")]
        internal static partial int cuMemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemsetD32Async")]
        internal static partial int cuMemsetD32Async(ulong dst, uint value, nuint count, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemsetD16Async")]
        internal static partial int cuMemsetD16Async(ulong dst, ushort value, nuint count, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuMemsetD8Async")]
        internal static partial int cuMemsetD8Async(ulong dst, byte value, nuint count, IntPtr stream);
    }
}
