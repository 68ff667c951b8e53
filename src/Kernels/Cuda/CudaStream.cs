namespace GraphEngine.Kernels.Cuda;

/// <summary>STUB: a CUstream. Handle is what cuLaunchKernel takes.</summary>
public sealed class CudaStream : ComputeStream
{
    internal CudaStream(CudaDevice device) : base(device) => throw new NotImplementedException();

    public IntPtr Handle => throw new NotImplementedException();
    public override bool IsCapturing => throw new NotImplementedException();
    public override void Synchronize() => throw new NotImplementedException();
    public override void BeginCapture() => throw new NotImplementedException();
    public override DeviceGraph EndCapture(DeviceGraph? updateTarget = null) => throw new NotImplementedException();
    public override void AbortCapture() => throw new NotImplementedException();
    public override void CopyAsync(DevicePtr dst, DevicePtr src, long bytes) => throw new NotImplementedException();
    public override void Fill32Async(DevicePtr dst, uint value, long count) => throw new NotImplementedException();
    public override void Fill16Async(DevicePtr dst, ushort value, long count) => throw new NotImplementedException();
    public override void Fill8Async(DevicePtr dst, byte value, long count) => throw new NotImplementedException();
    public override void Dispose() { }
}
