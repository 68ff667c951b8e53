using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Cuda;

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
