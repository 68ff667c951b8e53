using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

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
