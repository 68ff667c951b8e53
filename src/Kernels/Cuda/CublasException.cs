using System.Runtime.CompilerServices;

namespace GraphEngine.Kernels.Cuda;

/// <summary>A cuBLASLt call failed; the message names the call and the status name.</summary>
public sealed class CublasException : NativeCallException
{
    /// <summary>A failed cuBLAS(Lt) call: <paramref name="status"/> (cublasStatus_t), the <paramref name="call"/> text and the full <paramref name="message"/>.</summary>
    public CublasException(int status, string call, string message) : base(status, call, message) { }

    /// <summary>Throws a <see cref="CublasException"/> naming <paramref name="call"/> (the caller's expression) unless <paramref name="status"/> is CUBLAS_STATUS_SUCCESS.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.CublasLt.CUBLAS_STATUS_SUCCESS)
            throw new CublasException(status, call, $"{call} failed: {StatusName(status)} ({status})");
    }

    /// <summary>cublasStatus_t names (the library's own names when it is loaded).</summary>
    public static unsafe string StatusName(int status)
    {
        return NativeText(() => (IntPtr)Interop.CublasLt.cublasLtGetStatusName(status), Fallback(status));

        static string Fallback(int s) => s switch
        {
            0 => "CUBLAS_STATUS_SUCCESS",
            1 => "CUBLAS_STATUS_NOT_INITIALIZED",
            3 => "CUBLAS_STATUS_ALLOC_FAILED",
            7 => "CUBLAS_STATUS_INVALID_VALUE",
            8 => "CUBLAS_STATUS_ARCH_MISMATCH",
            11 => "CUBLAS_STATUS_MAPPING_ERROR",
            13 => "CUBLAS_STATUS_EXECUTION_FAILED",
            14 => "CUBLAS_STATUS_INTERNAL_ERROR",
            15 => "CUBLAS_STATUS_NOT_SUPPORTED",
            16 => "CUBLAS_STATUS_LICENSE_ERROR",
            _ => $"cublasStatus {s}",
        };
    }
}
