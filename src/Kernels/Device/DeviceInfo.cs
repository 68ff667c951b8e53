namespace GraphEngine.Kernels;

/// <summary>What a device is; the reference backend reports the host's figures.</summary>
public sealed record DeviceInfo(
    BackendKind Backend,
    string Name,
    int ComputeMajor,
    int ComputeMinor,
    int SmCount,
    long TotalMemoryBytes,
    long L2CacheBytes,
    string DriverVersion)
{
    /// <summary>"sm_XY" on CUDA, "host" on the reference backend.</summary>
    public string Architecture => Backend == BackendKind.Cuda ? $"sm_{ComputeMajor}{ComputeMinor}" : "host";
    /// <summary>Name, architecture, SMs, memory and driver on one line.</summary>
    public override string ToString() =>
        Backend == BackendKind.Cuda
            ? $"{Name} ({Architecture}, {SmCount} SMs, {TotalMemoryBytes / (1L << 30)} GiB, L2 {L2CacheBytes / (1 << 20)} MiB, driver {DriverVersion})"
            : $"CPU reference backend ({Name})";
}
