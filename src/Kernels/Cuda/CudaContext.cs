using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>Keeps the calling thread's current context in step with the device it is about to use.</summary>
internal static class CudaContext
{
    // The driver's current context is per thread; remembering it avoids a driver call per entry point.
    [ThreadStatic] private static IntPtr t_current;

    internal static void MakeCurrent(IntPtr context)
    {
        if (t_current == context) return;
        CudaException.ThrowIfFailed(CuDriver.cuCtxSetCurrent(context));
        t_current = context;
    }

    /// <summary>For release paths: never throws; false when the context could not be made current.</summary>
    internal static bool TryMakeCurrent(IntPtr context)
    {
        if (context == IntPtr.Zero || t_current == context) return true;
        if (CuDriver.cuCtxSetCurrent(context) != 0) return false;
        t_current = context;
        return true;
    }

    internal static void Forget(IntPtr context)
    {
        if (t_current == context) t_current = IntPtr.Zero;
    }
}
