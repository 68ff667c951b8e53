using System.Runtime.CompilerServices;

namespace GraphEngine.Kernels.Cuda;

/// <summary>A CUDA driver call failed: the message carries the call's own text and the driver's error name and text.</summary>
public sealed class CudaException : NativeCallException
{
    /// <param name="status">The CUresult value.</param>
    /// <param name="call">The failing call's text at the call site.</param>
    /// <param name="message">The full message: the call, the driver's error name and its description.</param>
    public CudaException(int status, string call, string message) : base(status, call, message) { }

    /// <summary>The driver's name for <see cref="NativeCallException.Status"/> (cuGetErrorName, for example CUDA_ERROR_OUT_OF_MEMORY).</summary>
    public string ErrorName => DescribeName(Status);

    /// <summary>Throws when <paramref name="status"/> is not CUDA_SUCCESS; the message names the failing call.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.CuDriver.CUDA_SUCCESS) throw Create(status, call);
    }

    internal static CudaException Create(int status, string call) =>
        new(status, call, $"{call} failed: {DescribeName(status)} ({status}): {DescribeText(status)}");

    internal static unsafe string DescribeName(int status) => NativeText(() =>
    {
        byte* p = null;
        return Interop.CuDriver.cuGetErrorName(status, &p) == 0 ? (IntPtr)p : IntPtr.Zero;
    }, $"CUresult {status}");

    internal static unsafe string DescribeText(int status) => NativeText(() =>
    {
        byte* p = null;
        return Interop.CuDriver.cuGetErrorString(status, &p) == 0 ? (IntPtr)p : IntPtr.Zero;
    }, "unknown error");
}
