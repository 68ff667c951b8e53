using Microsoft.Extensions.Logging;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// A CUDA GPU through the driver API (primary context). STUB: signatures are the contract the kernel
/// families code against; the foundation work fills in the bodies.
/// </summary>
public sealed class CudaDevice : Device
{
    private CudaDevice() => throw new NotImplementedException();

    public static bool TryOpen(int ordinal, ILogger? logger, out CudaDevice? device, out string reason)
    {
        device = null;
        reason = "CUDA backend not built yet";
        return false;
    }

    public static CudaDevice Open(int ordinal, ILogger? logger) =>
        throw new DeviceUnavailableException("CUDA backend not built yet");

    public override BackendKind Kind => BackendKind.Cuda;
    public override DeviceInfo Info => throw new NotImplementedException();
    public override ComputeStream DefaultStream => throw new NotImplementedException();
    public override ComputeStream CreateStream() => throw new NotImplementedException();
    public override DeviceEvent CreateEvent() => throw new NotImplementedException();
    public override bool AnyStreamCapturing => throw new NotImplementedException();
    protected override DevicePtr AllocRaw(long bytes) => throw new NotImplementedException();
    protected override void FreeRaw(DevicePtr ptr) => throw new NotImplementedException();
    public override void CopyToDevice(DevicePtr dst, ReadOnlySpan<byte> src) => throw new NotImplementedException();
    public override void CopyToHost(Span<byte> dst, DevicePtr src) => throw new NotImplementedException();
    public override void Synchronize() => throw new NotImplementedException();
    protected override void DisposeCore() { }

    /// <summary>
    /// Compiles (or loads from the cubin cache) <paramref name="sourceFile"/> from native/ with the given
    /// defines and returns the kernel <paramref name="kernelName"/>: an extern "C" name or a template
    /// instantiation such as "rms_norm&lt;__nv_bfloat16, 8&gt;". Cached per (source, defines, name):
    /// call at layer construction, not per launch.
    /// </summary>
    public CudaKernel GetKernel(string sourceFile, string kernelName, params KernelDefine[] defines) =>
        throw new NotImplementedException();
}

/// <summary>A -D define baked into an NVRTC compile.</summary>
public readonly record struct KernelDefine(string Name, string Value)
{
    public override string ToString() => $"-D{Name}={Value}";
}

public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1);
