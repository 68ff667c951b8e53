using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Kernels;

/// <summary>The message of the ArgumentException a tensor map the TMA cannot use is refused with, before the driver sees it.</summary>
internal static class TensorMapRefusal
{
    public static string Swizzled(DType type, DevicePtr at, ulong[] dims, uint[] box) =>
        Assert.Throws<ArgumentException>(() => TensorMap.Swizzled128(type, at, dims, box)).Message;

    public static string Bytes(DevicePtr at, ulong[] dims, uint[] box) =>
        Assert.Throws<ArgumentException>(() => TensorMap.BytesTiled(at, dims, box)).Message;
}
