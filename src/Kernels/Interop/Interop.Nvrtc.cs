using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    /// <summary>NVRTC (libnvrtc.so.13, else .12): run-time compilation of native/*.cu to cubins.</summary>
    internal static unsafe partial class Nvrtc
    {
        internal const int NVRTC_SUCCESS = 0;
        internal const int NVRTC_ERROR_COMPILATION = 6;

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcVersion")]
        internal static partial int nvrtcVersion(int* major, int* minor);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetErrorString")]
        internal static partial byte* nvrtcGetErrorString(int status);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcCreateProgram")]
        internal static partial int nvrtcCreateProgram(IntPtr* program, byte* source, byte* name,
            int headerCount, byte** headers, byte** includeNames);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcDestroyProgram")]
        internal static partial int nvrtcDestroyProgram(IntPtr* program);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcAddNameExpression")]
        internal static partial int nvrtcAddNameExpression(IntPtr program, byte* nameExpression);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcCompileProgram")]
        internal static partial int nvrtcCompileProgram(IntPtr program, int optionCount, byte** options);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetLoweredName")]
        internal static partial int nvrtcGetLoweredName(IntPtr program, byte* nameExpression, byte** loweredName);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetProgramLogSize")]
        internal static partial int nvrtcGetProgramLogSize(IntPtr program, nuint* size);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetProgramLog")]
        internal static partial int nvrtcGetProgramLog(IntPtr program, byte* log);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetCUBINSize")]
        internal static partial int nvrtcGetCUBINSize(IntPtr program, nuint* size);

        [LibraryImport(Libraries.Nvrtc, EntryPoint = "nvrtcGetCUBIN")]
        internal static partial int nvrtcGetCUBIN(IntPtr program, byte* cubin);
    }
}
