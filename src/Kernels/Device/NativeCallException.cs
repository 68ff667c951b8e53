using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

/// <summary>A native library's call failed: the status it returned and the call's own text.</summary>
public abstract class NativeCallException(int status, string call, string message) : GraphEngineException(message)
{
    /// <summary>The library's status value (CUresult, cublasStatus_t, CUptiResult).</summary>
    public int Status { get; } = status;
    /// <summary>The failing call as written at the call site.</summary>
    public string Call { get; } = call;

    /// <summary>
    /// The UTF-8 text a library hands back for a status (its error name or string), or <paramref name="fallback"/>
    /// when it gives none or cannot be loaded: describing a failure never throws.
    /// </summary>
    internal static string NativeText(Func<IntPtr> read, string fallback)
    {
        try
        {
            IntPtr p = read();
            if (p != IntPtr.Zero) return Marshal.PtrToStringUTF8(p) ?? fallback;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or DeviceUnavailableException) { }
        return fallback;
    }
}
