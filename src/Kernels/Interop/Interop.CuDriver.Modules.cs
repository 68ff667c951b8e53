using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    internal static unsafe partial class CuDriver
    {
        // CUfunction_attribute
        internal const int CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0;
        internal const int CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1;
        internal const int CU_FUNC_ATTRIBUTE_NUM_REGS = 4;
        internal const int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuModuleLoadData")]
        internal static partial int cuModuleLoadData(IntPtr* module, void* image);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuModuleUnload")]
        internal static partial int cuModuleUnload(IntPtr module);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuModuleGetFunction")]
        internal static partial int cuModuleGetFunction(IntPtr* function, IntPtr module, byte* name);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuFuncGetAttribute")]
        internal static partial int cuFuncGetAttribute(int* value, int attribute, IntPtr function);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuFuncSetAttribute")]
        internal static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuLaunchKernel")]
        internal static partial int cuLaunchKernel(IntPtr function,
            uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
            uint sharedBytes, IntPtr stream, void** args, void** extra);

        /// <summary>CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION (cuda.h, CUDA 12.0+).</summary>
        internal const int CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;

        /// <summary>CUlaunchAttribute: a 4-byte id, padding to 8, then the 64-byte value union.</summary>
        [StructLayout(LayoutKind.Explicit, Size = 72)]
        internal struct CUlaunchAttribute
        {
            [FieldOffset(0)] public int Id;
            [FieldOffset(8)] public int Value;
        }

        /// <summary>CUlaunchConfig (cuda.h): seven unsigned ints, then the stream, the attribute array and its length.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct CUlaunchConfig
        {
            public uint GridDimX, GridDimY, GridDimZ, BlockDimX, BlockDimY, BlockDimZ, SharedMemBytes;
            public IntPtr Stream;
            public CUlaunchAttribute* Attrs;
            public uint NumAttrs;
        }

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuLaunchKernelEx")]
        internal static partial int cuLaunchKernelEx(CUlaunchConfig* config, IntPtr function, void** args, void** extra);
    }
}
