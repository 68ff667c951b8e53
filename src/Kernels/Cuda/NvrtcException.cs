using System.Runtime.CompilerServices;

namespace GraphEngine.Kernels.Cuda;

/// <summary>An NVRTC call failed; a compile failure carries the compiler's log and the options used.</summary>
public sealed class NvrtcException : GraphEngineException
{
    /// <summary>An NVRTC failure with <paramref name="status"/> (nvrtcResult), the <paramref name="message"/> and the compiler's <paramref name="log"/>.</summary>
    public NvrtcException(int status, string message, string log) : base(message)
    {
        Status = status;
        Log = log;
    }

    /// <summary>The nvrtcResult value.</summary>
    public int Status { get; }

    /// <summary>NVRTC's program log (empty when the failure was not a compile).</summary>
    public string Log { get; }

    /// <summary>Throws an <see cref="NvrtcException"/> naming <paramref name="call"/> (the caller's expression) unless <paramref name="status"/> is NVRTC_SUCCESS.</summary>
    public static void ThrowIfFailed(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != Interop.Nvrtc.NVRTC_SUCCESS)
            throw new NvrtcException(status, $"{call} failed: {Describe(status)} ({status})", "");
    }

    internal static unsafe string Describe(int status) =>
        NativeCallException.NativeText(() => (IntPtr)Interop.Nvrtc.nvrtcGetErrorString(status), $"nvrtcResult {status}");
}
