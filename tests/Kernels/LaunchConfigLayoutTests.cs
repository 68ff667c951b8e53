using System.Runtime.InteropServices;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Tests.Kernels;

/// <summary>
/// cuLaunchKernelEx reads CUlaunchConfig and CUlaunchAttribute as cuda.h lays them out (x86-64): seven unsigned ints, the
/// stream at 32, the attribute pointer at 40, the count at 48; an attribute is a 4-byte id, padding, and a 64-byte value
/// union at 8. A wrong offset would make the driver read the stream or the attributes from the wrong bytes, which no CPU
/// test would otherwise notice.
/// </summary>
public class LaunchConfigLayoutTests
{
    [Fact]
    public void Launch_config_matches_cuda_h()
    {
        Assert.Equal(56, Marshal.SizeOf<CuDriver.CUlaunchConfig>());
        Assert.Equal(24, (int)Marshal.OffsetOf<CuDriver.CUlaunchConfig>(nameof(CuDriver.CUlaunchConfig.SharedMemBytes)));
        Assert.Equal(32, (int)Marshal.OffsetOf<CuDriver.CUlaunchConfig>(nameof(CuDriver.CUlaunchConfig.Stream)));
        Assert.Equal(40, (int)Marshal.OffsetOf<CuDriver.CUlaunchConfig>(nameof(CuDriver.CUlaunchConfig.Attrs)));
        Assert.Equal(48, (int)Marshal.OffsetOf<CuDriver.CUlaunchConfig>(nameof(CuDriver.CUlaunchConfig.NumAttrs)));
    }

    [Fact]
    public void Launch_attribute_matches_cuda_h()
    {
        Assert.Equal(72, Marshal.SizeOf<CuDriver.CUlaunchAttribute>());
        Assert.Equal(8, (int)Marshal.OffsetOf<CuDriver.CUlaunchAttribute>(nameof(CuDriver.CUlaunchAttribute.Value)));
        Assert.Equal(6, CuDriver.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
    }
}
