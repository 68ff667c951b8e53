using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Cuda;

/// <summary>A CUDA driver call failed: the message carries the call's own text and the driver's error name and text.</summary>
public sealed class CudaException : GraphEngineException
{
    public CudaException(int status, string call, string message) : base(message)
    {
        Status = status;
        Call = call;
    }

    /// <summary>The CUresult value.</summary>
    public int Status { get; }
    public string Call { get; }
    public string ErrorName => DescribeName(Status);

    /// <summary>Throws when <paramref name="status"/> is not CUDA_SUCCESS; the message names the failing call.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.CuDriver.CUDA_SUCCESS) throw Create(status, call);
    }

    internal static CudaException Create(int status, string call) =>
        new(status, call, $"{call} failed: {DescribeName(status)} ({status}): {DescribeText(status)}");

    internal static unsafe string DescribeName(int status)
    {
        try
        {
            byte* p = null;
            if (Interop.CuDriver.cuGetErrorName(status, &p) == 0 && p != null)
                return Marshal.PtrToStringUTF8((IntPtr)p) ?? $"CUresult {status}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or DeviceUnavailableException) { }
        return $"CUresult {status}";
    }

    internal static unsafe string DescribeText(int status)
    {
        try
        {
            byte* p = null;
            if (Interop.CuDriver.cuGetErrorString(status, &p) == 0 && p != null)
                return Marshal.PtrToStringUTF8((IntPtr)p) ?? "unknown error";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or DeviceUnavailableException) { }
        return "unknown error";
    }
}

/// <summary>An NVRTC call failed; a compile failure carries the compiler's log and the options used.</summary>
public sealed class NvrtcException : GraphEngineException
{
    public NvrtcException(int status, string message, string log) : base(message)
    {
        Status = status;
        Log = log;
    }

    public int Status { get; }

    /// <summary>NVRTC's program log (empty when the failure was not a compile).</summary>
    public string Log { get; }

    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.Nvrtc.NVRTC_SUCCESS)
            throw new NvrtcException(status, $"{call} failed: {Describe(status)} ({status})", "");
    }

    internal static unsafe string Describe(int status)
    {
        try
        {
            byte* p = Interop.Nvrtc.nvrtcGetErrorString(status);
            if (p != null) return Marshal.PtrToStringUTF8((IntPtr)p) ?? $"nvrtcResult {status}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or DeviceUnavailableException) { }
        return $"nvrtcResult {status}";
    }
}

/// <summary>A cuBLASLt call failed; the message names the call and the status name.</summary>
public sealed class CublasException : GraphEngineException
{
    public CublasException(int status, string call, string message) : base(message)
    {
        Status = status;
        Call = call;
    }

    public int Status { get; }
    public string Call { get; }

    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.CublasLt.CUBLAS_STATUS_SUCCESS)
            throw new CublasException(status, call, $"{call} failed: {StatusName(status)} ({status})");
    }

    /// <summary>cublasStatus_t names (the library's own names when it is loaded).</summary>
    public static unsafe string StatusName(int status)
    {
        try
        {
            byte* p = Interop.CublasLt.cublasLtGetStatusName(status);
            if (p != null) return Marshal.PtrToStringUTF8((IntPtr)p) ?? Fallback(status);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or DeviceUnavailableException) { }
        return Fallback(status);

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
