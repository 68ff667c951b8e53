using System.Runtime.InteropServices;
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

/// <summary>
/// Base of the driver-object handles: released exactly once (SafeHandle), with the owning context made
/// current first because the finalizer thread has none. ReleaseHandle never throws.
/// </summary>
internal abstract class CudaSafeHandle : SafeHandle
{
    protected CudaSafeHandle(IntPtr value, IntPtr context) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(value);
        Context = context;
    }

    public override bool IsInvalid => handle == IntPtr.Zero;
    internal IntPtr Context { get; }
    internal IntPtr Value => handle;

    protected override bool ReleaseHandle()
    {
        try
        {
            return CudaContext.TryMakeCurrent(Context) && Release(handle) == 0;
        }
        catch
        {
            return false;
        }
    }

    protected abstract int Release(IntPtr value);
}

/// <summary>A retained primary context; releasing it drops the device's reference.</summary>
internal sealed class PrimaryContextHandle : CudaSafeHandle
{
    private readonly int _device;
    internal PrimaryContextHandle(IntPtr context, int device) : base(context, IntPtr.Zero) => _device = device;

    protected override int Release(IntPtr value)
    {
        CudaContext.Forget(value);
        return CuDriver.cuDevicePrimaryCtxRelease(_device);
    }
}

internal sealed class StreamHandle : CudaSafeHandle
{
    internal StreamHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuStreamDestroy(value);
}

internal sealed class EventHandle : CudaSafeHandle
{
    internal EventHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuEventDestroy(value);
}

internal sealed class DeviceAllocationHandle : CudaSafeHandle
{
    internal DeviceAllocationHandle(ulong address, IntPtr context) : base((IntPtr)(long)address, context) { }
    internal ulong Address => (ulong)(long)Value;
    protected override int Release(IntPtr value) => CuDriver.cuMemFree((ulong)(long)value);
}

internal sealed class ModuleHandle : CudaSafeHandle
{
    internal ModuleHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuModuleUnload(value);
}

internal sealed class GraphHandle : CudaSafeHandle
{
    internal GraphHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuGraphDestroy(value);
}

internal sealed class GraphExecHandle : CudaSafeHandle
{
    internal GraphExecHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CuDriver.cuGraphExecDestroy(value);
}

/// <summary>An NVRTC program; it belongs to no context.</summary>
internal sealed unsafe class NvrtcProgramHandle : CudaSafeHandle
{
    internal NvrtcProgramHandle(IntPtr value) : base(value, IntPtr.Zero) { }

    protected override int Release(IntPtr value)
    {
        IntPtr p = value;
        return Nvrtc.nvrtcDestroyProgram(&p);
    }
}

internal sealed class CublasLtHandle : CudaSafeHandle
{
    internal CublasLtHandle(IntPtr value, IntPtr context) : base(value, context) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtDestroy(value);
}

internal sealed class MatmulDescHandle : CudaSafeHandle
{
    internal MatmulDescHandle(IntPtr value) : base(value, IntPtr.Zero) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtMatmulDescDestroy(value);
}

internal sealed class MatrixLayoutHandle : CudaSafeHandle
{
    internal MatrixLayoutHandle(IntPtr value) : base(value, IntPtr.Zero) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtMatrixLayoutDestroy(value);
}

internal sealed class MatmulPreferenceHandle : CudaSafeHandle
{
    internal MatmulPreferenceHandle(IntPtr value) : base(value, IntPtr.Zero) { }
    protected override int Release(IntPtr value) => CublasLt.cublasLtMatmulPreferenceDestroy(value);
}
