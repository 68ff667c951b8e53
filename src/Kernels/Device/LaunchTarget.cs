namespace GraphEngine.Kernels;

/// <summary>
/// What the launchers' variant rules read of a GPU: the compute capability (architecture paths), the SM count
/// (how many blocks fill the GPU) and the opt-in shared memory per block (which tiles fit). The rules are pure
/// functions of a problem's host-side shape and a target, so `graphengine check --list` and the tests name the
/// kernel each case runs without a GPU.
/// </summary>
/// <param name="ComputeMajor">Compute capability, major part.</param>
/// <param name="ComputeMinor">Compute capability, minor part.</param>
/// <param name="SmCount">Streaming multiprocessors.</param>
/// <param name="MaxSharedPerBlockOptin">cudaDevAttrMaxSharedMemoryPerBlockOptin in bytes.</param>
public readonly record struct LaunchTarget(int ComputeMajor, int ComputeMinor, int SmCount, int MaxSharedPerBlockOptin)
{
    /// <summary>The H200 the check suite runs on: sm_90, 132 SMs, 227 KiB of shared memory per block.</summary>
    public static LaunchTarget H200 { get; } = new(9, 0, 132, 232448);

    /// <summary>The compute capabilities whose kernels differ somewhere in the rules: Ampere (sm_80, sm_86: no
    /// fp8), Ada (sm_89: fp8 mma.sync), Hopper (sm_90: wgmma), Blackwell (sm_100, sm_120: no sm_90a wgmma).</summary>
    public static IReadOnlyList<(int Major, int Minor)> Architectures { get; } = new[] { (8, 0), (8, 6), (8, 9), (9, 0), (10, 0), (12, 0) };

    /// <summary>"sm_XY".</summary>
    public string Architecture => $"sm_{ComputeMajor}{ComputeMinor}";

    /// <summary>This target with another compute capability (the same SMs and shared memory).</summary>
    public LaunchTarget WithArchitecture(int major, int minor) => this with { ComputeMajor = major, ComputeMinor = minor };

    /// <summary>The placeholder for the element type in a variant name: the rules choose tiles and paths, the
    /// caller's tensors choose the type, so one variant covers every element type it is instantiated for.</summary>
    public const string TypeParameter = "T";
}
