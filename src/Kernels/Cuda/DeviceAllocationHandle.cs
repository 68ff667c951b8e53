using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

internal sealed class DeviceAllocationHandle : CudaSafeHandle
{
    internal DeviceAllocationHandle(ulong address, IntPtr context) : base((IntPtr)(long)address, context) { }
    internal ulong Address => (ulong)(long)Value;
    protected override int Release(IntPtr value) => CuDriver.cuMemFree((ulong)(long)value);
}
