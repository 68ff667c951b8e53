using System.Runtime.CompilerServices;

namespace GraphEngine.Kernels.Profiling;

/// <summary>A CUPTI call failed while tracing: the message carries the call's own text and CUPTI's error string.</summary>
public sealed class CuptiException : NativeCallException
{
    /// <param name="status">The CUptiResult value.</param>
    /// <param name="call">The failing call's text at the call site.</param>
    /// <param name="message">The full message: the call and CUPTI's error string.</param>
    public CuptiException(int status, string call, string message) : base(status, call, message) { }

    /// <summary>Throws a <see cref="CuptiException"/> naming <paramref name="call"/> (the caller's expression) unless <paramref name="status"/> is CUPTI_SUCCESS.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.Cupti.CUPTI_SUCCESS) throw Create(status, call);
    }

    internal static CuptiException Create(int status, string call) =>
        new(status, call, $"{call} failed: {Describe(status)} ({status})");

    /// <summary>CUPTI's own name for <paramref name="status"/> (CUPTI_ERROR_...), or the number when it cannot say.</summary>
    internal static unsafe string Describe(int status) => NativeText(() =>
    {
        byte* p = null;
        return Interop.Cupti.cuptiGetResultString(status, &p) == Interop.Cupti.CUPTI_SUCCESS ? (IntPtr)p : IntPtr.Zero;
    }, $"CUptiResult {status}");
}
