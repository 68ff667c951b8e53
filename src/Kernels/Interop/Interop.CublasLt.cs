using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    /// <summary>cuBLASLt (libcublasLt.so.13, else .12): matmul with epilogues and fp8 scaling.</summary>
    internal static unsafe partial class CublasLt
    {
        internal const int CUBLAS_STATUS_SUCCESS = 0;

        // cudaDataType_t
        internal const int CUDA_R_32F = 0;
        internal const int CUDA_R_16F = 2;
        internal const int CUDA_R_8I = 3;
        internal const int CUDA_R_32I = 10;
        internal const int CUDA_R_16BF = 14;
        internal const int CUDA_R_8F_E4M3 = 28;
        internal const int CUDA_R_8F_E5M2 = 29;

        // cublasComputeType_t
        internal const int CUBLAS_COMPUTE_32F = 68;
        internal const int CUBLAS_COMPUTE_32I = 72;

        // cublasOperation_t
        internal const int CUBLAS_OP_N = 0;
        internal const int CUBLAS_OP_T = 1;

        // cublasLtMatmulDescAttributes_t
        internal const int CUBLASLT_MATMUL_DESC_TRANSA = 3;
        internal const int CUBLASLT_MATMUL_DESC_TRANSB = 4;
        internal const int CUBLASLT_MATMUL_DESC_EPILOGUE = 7;
        internal const int CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8;
        internal const int CUBLASLT_MATMUL_DESC_A_SCALE_POINTER = 17;
        internal const int CUBLASLT_MATMUL_DESC_B_SCALE_POINTER = 18;
        internal const int CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26;

        // cublasLtEpilogue_t
        internal const int CUBLASLT_EPILOGUE_DEFAULT = 1;
        internal const int CUBLASLT_EPILOGUE_BIAS = 4;

        // cublasLtMatmulPreferenceAttributes_t
        internal const int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
        internal const int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5;
        internal const int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6;
        internal const int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7;
        internal const int CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;

        /// <summary>cublasLtMatmulAlgo_t: 8 opaque 64-bit words.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MatmulAlgo
        {
            public fixed ulong Data[8];
        }

        /// <summary>cublasLtMatmulHeuristicResult_t (96 bytes).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MatmulHeuristicResult
        {
            public MatmulAlgo Algo;
            public nuint WorkspaceSize;
            public int State;
            public float WavesCount;
            public fixed int Reserved[4];
        }

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtGetStatusName")]
        internal static partial byte* cublasLtGetStatusName(int status);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtGetStatusString")]
        internal static partial byte* cublasLtGetStatusString(int status);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtCreate")]
        internal static partial int cublasLtCreate(IntPtr* handle);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtDestroy")]
        internal static partial int cublasLtDestroy(IntPtr handle);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulDescCreate")]
        internal static partial int cublasLtMatmulDescCreate(IntPtr* desc, int computeType, int scaleType);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulDescDestroy")]
        internal static partial int cublasLtMatmulDescDestroy(IntPtr desc);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulDescSetAttribute")]
        internal static partial int cublasLtMatmulDescSetAttribute(IntPtr desc, int attribute, void* value, nuint size);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatrixLayoutCreate")]
        internal static partial int cublasLtMatrixLayoutCreate(IntPtr* layout, int type, ulong rows, ulong cols, long ld);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatrixLayoutDestroy")]
        internal static partial int cublasLtMatrixLayoutDestroy(IntPtr layout);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulPreferenceCreate")]
        internal static partial int cublasLtMatmulPreferenceCreate(IntPtr* preference);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulPreferenceDestroy")]
        internal static partial int cublasLtMatmulPreferenceDestroy(IntPtr preference);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulPreferenceSetAttribute")]
        internal static partial int cublasLtMatmulPreferenceSetAttribute(IntPtr preference, int attribute, void* value, nuint size);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmulAlgoGetHeuristic")]
        internal static partial int cublasLtMatmulAlgoGetHeuristic(IntPtr handle, IntPtr desc,
            IntPtr aLayout, IntPtr bLayout, IntPtr cLayout, IntPtr dLayout, IntPtr preference,
            int requested, MatmulHeuristicResult* results, int* returned);

        [LibraryImport(Libraries.CublasLt, EntryPoint = "cublasLtMatmul")]
        internal static partial int cublasLtMatmul(IntPtr handle, IntPtr desc,
            void* alpha, ulong a, IntPtr aLayout, ulong b, IntPtr bLayout,
            void* beta, ulong c, IntPtr cLayout, ulong d, IntPtr dLayout,
            MatmulAlgo* algo, ulong workspace, nuint workspaceBytes, IntPtr stream);
    }
}
