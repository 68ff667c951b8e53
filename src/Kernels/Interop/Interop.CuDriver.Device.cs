using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    /// <summary>The CUDA driver API (libcuda.so.1). Every handle is an opaque pointer; CUdevice is an int.</summary>
    internal static unsafe partial class CuDriver
    {
        internal const int CUDA_SUCCESS = 0;
        internal const int CUDA_ERROR_NOT_READY = 600;
        internal const int CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901;
        internal const int CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE = 910;

        // CUdevice_attribute values used for DeviceInfo.
        internal const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
        internal const int CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38;
        internal const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
        internal const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
        internal const int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuInit")]
        internal static partial int cuInit(uint flags);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDriverGetVersion")]
        internal static partial int cuDriverGetVersion(int* version);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDeviceGetCount")]
        internal static partial int cuDeviceGetCount(int* count);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDeviceGet")]
        internal static partial int cuDeviceGet(int* device, int ordinal);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDeviceGetName")]
        internal static partial int cuDeviceGetName(byte* name, int length, int device);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDeviceGetAttribute")]
        internal static partial int cuDeviceGetAttribute(int* value, int attribute, int device);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDeviceTotalMem_v2")]
        internal static partial int cuDeviceTotalMem(nuint* bytes, int device);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDevicePrimaryCtxRetain")]
        internal static partial int cuDevicePrimaryCtxRetain(IntPtr* context, int device);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
        internal static partial int cuDevicePrimaryCtxRelease(int device);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuDevicePrimaryCtxReset_v2")]
        internal static partial int cuDevicePrimaryCtxReset(int device);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuCtxSetCurrent")]
        internal static partial int cuCtxSetCurrent(IntPtr context);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuCtxSynchronize")]
        internal static partial int cuCtxSynchronize();

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGetErrorName")]
        internal static partial int cuGetErrorName(int status, byte** name);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGetErrorString")]
        internal static partial int cuGetErrorString(int status, byte** text);
    }
}
