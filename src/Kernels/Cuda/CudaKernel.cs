using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// A compiled kernel (CUfunction) inside a module the device owns. Launch is allocation-free: pass a
/// stackalloc'd array of pointers to each argument value, in the kernel's parameter order.
/// </summary>
public sealed unsafe class CudaKernel
{
    private readonly CudaDevice _device;
    private readonly IntPtr _function;
    private readonly SharedMemoryLimit _dynamicShared = new();

    internal CudaKernel(CudaDevice device, IntPtr function, string name, string loweredName)
    {
        _device = device;
        _function = function;
        Name = name;
        LoweredName = loweredName;
        RegistersPerThread = Attribute(CuDriver.CU_FUNC_ATTRIBUTE_NUM_REGS);
        MaxThreadsPerBlock = Attribute(CuDriver.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
        StaticSharedBytes = Attribute(CuDriver.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES);
    }

    /// <summary>The kernel's name as written in the source.</summary>
    public string Name { get; }

    /// <summary>The mangled symbol NVRTC produced for <see cref="Name"/>.</summary>
    public string LoweredName { get; }

    /// <summary>Registers used per thread and static shared memory, for launch-config math.</summary>
    public int RegistersPerThread { get; }
    /// <summary>The most threads a block of this kernel may have (registers permitting).</summary>
    public int MaxThreadsPerBlock { get; }
    /// <summary>Static shared memory per block, in bytes.</summary>
    public int StaticSharedBytes { get; }

    private int Attribute(int attribute)
    {
        int v;
        CudaException.ThrowIfFailed(CuDriver.cuFuncGetAttribute(&v, attribute, _function));
        return v;
    }

    /// <summary>Raises the kernel's dynamic shared memory limit (needed above 48 KiB); idempotent, and safe from several threads (<see cref="SharedMemoryLimit"/>).</summary>
    public void EnsureDynamicSharedMemory(int bytes)
    {
        if (bytes < 0 || bytes > _device.MaxSharedMemoryPerBlockOptin)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes,
                $"{Name}: dynamic shared memory must be in [0, {_device.MaxSharedMemoryPerBlockOptin}] on {_device.Info.Name}");
        _dynamicShared.Raise(bytes, this, static (kernel, b) =>
        {
            kernel._device.EnsureCurrent();
            CudaException.ThrowIfFailed(CuDriver.cuFuncSetAttribute(kernel._function, CuDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, b));
        });
    }

    /// <summary>
    /// Enqueues the kernel on <paramref name="stream"/> over <paramref name="grid"/> blocks of <paramref name="block"/> threads
    /// with <paramref name="sharedBytes"/> of dynamic shared memory; <paramref name="args"/> points to one pointer per kernel
    /// parameter, each to its value. <paramref name="dependent"/>: a programmatic dependent launch (Hopper and later; a plain
    /// launch elsewhere), for kernels that call ge_pdl_wait() (native/common.cuh) before they read anything an earlier
    /// kernel wrote or write anything at all: the launch may then start while the kernel before it in the stream (or
    /// graph) still runs, once that kernel's blocks have all called ge_pdl_trigger().
    /// </summary>
    public void Launch(CudaStream stream, Dim3 grid, Dim3 block, uint sharedBytes, void** args, bool dependent = false)
    {
        IntPtr s = stream.Handle;
        _device.EnsureCurrent();
        int st;
        if (dependent && _device.Info.ComputeMajor >= 9)
        {
            var attr = new CuDriver.CUlaunchAttribute { Id = CuDriver.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, Value = 1 };
            var config = new CuDriver.CUlaunchConfig
            {
                GridDimX = grid.X, GridDimY = grid.Y, GridDimZ = grid.Z, BlockDimX = block.X, BlockDimY = block.Y, BlockDimZ = block.Z,
                SharedMemBytes = sharedBytes, Stream = s, Attrs = &attr, NumAttrs = 1,
            };
            st = CuDriver.cuLaunchKernelEx(&config, _function, args, null);
        }
        else
        {
            st = CuDriver.cuLaunchKernel(_function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, sharedBytes, s, args, null);
        }
        if (st != 0)
            throw CudaException.Create(st, $"{(dependent ? "cuLaunchKernelEx" : "cuLaunchKernel")}({Name}, grid ({grid.X},{grid.Y},{grid.Z}), block ({block.X},{block.Y},{block.Z}), {sharedBytes} B shared)");
    }
}
