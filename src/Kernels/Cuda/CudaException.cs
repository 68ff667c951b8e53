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
