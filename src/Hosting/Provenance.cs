using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Hosting;

/// <summary>What produced a result: the commit (and whether the tree was dirty), the device, its driver and NVRTC.</summary>
public sealed record Provenance(string Commit, bool Dirty, string Device, string Gpu, string Driver, string Nvrtc, DateTimeOffset When)
{
    /// <summary>The provenance of a result computed now on <paramref name="device"/>: the build's commit, the device, its driver and the NVRTC version (or why it is unavailable).</summary>
    public static Provenance For(Device device)
    {
        string nvrtc = "n/a";
        if (device is CudaDevice cuda)
        {
            try { nvrtc = cuda.Compiler.NvrtcVersion; }
            catch (GraphEngineException e) { nvrtc = $"unavailable ({e.Message})"; }
        }
        return new Provenance(BuildInfo.Commit, BuildInfo.Dirty, device.Info.ToString(), device.Info.Name, device.Info.DriverVersion, nvrtc,
            DateTimeOffset.UtcNow);
    }

    /// <summary>One line for logs: "commit abc123 (dirty), NVIDIA H200 (...), NVRTC 13.0".</summary>
    public override string ToString() =>
        $"commit {Commit}{(Dirty ? " (dirty)" : "")}, {Device}, NVRTC {Nvrtc}";
}
