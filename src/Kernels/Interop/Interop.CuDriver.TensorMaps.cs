using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    internal static unsafe partial class CuDriver
    {
        // CUtensorMapDataType (int8 codes travel as UINT8: the TMA copies bytes and never converts them)
        internal const int CU_TENSOR_MAP_DATA_TYPE_UINT8 = 0;
        internal const int CU_TENSOR_MAP_DATA_TYPE_FLOAT16 = 6;
        internal const int CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9;
        // CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill
        internal const int CU_TENSOR_MAP_INTERLEAVE_NONE = 0;
        internal const int CU_TENSOR_MAP_SWIZZLE_NONE = 0;
        internal const int CU_TENSOR_MAP_SWIZZLE_128B = 3;
        internal const int CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3;
        internal const int CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0;

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuTensorMapEncodeTiled")]
        internal static partial int cuTensorMapEncodeTiled(void* tensorMap, int dataType, uint rank, void* globalAddress,
            ulong* globalDim, ulong* globalStrides, uint* boxDim, uint* elementStrides, int interleave, int swizzle,
            int l2Promotion, int oobFill);
    }
}
