namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// STUB: a compiled kernel (CUfunction) inside a loaded module. Launch is allocation-free: pass a
/// stackalloc'd array of pointers to each argument value, in the kernel's parameter order.
/// </summary>
public sealed unsafe class CudaKernel
{
    internal CudaKernel() => throw new NotImplementedException();

    public string Name => throw new NotImplementedException();

    /// <summary>Registers used per thread and static shared memory, for launch-config math.</summary>
    public int RegistersPerThread => throw new NotImplementedException();
    public int MaxThreadsPerBlock => throw new NotImplementedException();

    /// <summary>Raises the kernel's dynamic shared memory limit (needed above 48 KiB); idempotent.</summary>
    public void EnsureDynamicSharedMemory(int bytes) => throw new NotImplementedException();

    public void Launch(CudaStream stream, Dim3 grid, Dim3 block, uint sharedBytes, void** args) =>
        throw new NotImplementedException();
}
