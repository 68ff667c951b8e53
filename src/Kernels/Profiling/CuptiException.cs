using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Profiling;

/// <summary>A CUPTI call failed while tracing: the message carries the call's own text and CUPTI's error string.</summary>
public sealed class CuptiException : GraphEngineException
{
    public CuptiException(int status, string call, string message) : base(message)
    {
        Status = status;
        Call = call;
    }

    /// <summary>The CUptiResult value.</summary>
    public int Status { get; }
    public string Call { get; }

    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.Cupti.CUPTI_SUCCESS) throw Create(status, call);
    }

    internal static CuptiException Create(int status, string call) =>
        new(status, call, $"{call} failed: {Describe(status)} ({status})");

    /// <summary>CUPTI's own name for <paramref name="status"/> (CUPTI_ERROR_...), or the number when it cannot say.</summary>
    internal static unsafe string Describe(int status)
    {
        try
        {
            byte* p = null;
            if (Interop.Cupti.cuptiGetResultString(status, &p) == Interop.Cupti.CUPTI_SUCCESS && p != null)
                return Marshal.PtrToStringUTF8((IntPtr)p) ?? $"CUptiResult {status}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or DeviceUnavailableException) { }
        return $"CUptiResult {status}";
    }
}
