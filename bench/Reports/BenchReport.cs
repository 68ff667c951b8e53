namespace GraphEngine.Bench.Reports;

/// <summary>
/// The ceilings, measured in the same run as every figure that is compared with them: copy bandwidth, the
/// bf16, fp8 e4m3 and int8 matrix rates (cuBLASLt), so each floor uses the rate of the unit that does its
/// work. NaN where a rate could not be measured (the reason is in the report's missing list).
/// </summary>
public sealed record Ceilings(
    double CopyGBps,
    long CopyBufferBytes,
    double MatrixTflops,
    string MatrixShape,
    string Method,
    double Fp8Tflops = double.NaN,
    double Int8Tops = double.NaN)
{
    /// <summary>The rate of <paramref name="rate"/>'s unit, in T(FL)OP/s (NaN when it was not measured).</summary>
    public double Rate(MatrixRate rate) => rate switch
    {
        MatrixRate.Fp8 => Fp8Tflops,
        MatrixRate.Int8 => Int8Tops,
        _ => MatrixTflops,
    };

    /// <summary>One line for logs and reports: every ceiling with its unit, "not measured" for a missing rate.</summary>
    public string Summary()
    {
        static string R(double v, string unit) => double.IsFinite(v) ? $"{v:F1} {unit}" : "not measured";
        return $"copy {CopyGBps:F0} GB/s (read + written, {CopyBufferBytes >> 20} MiB buffers), bf16 matrix {R(MatrixTflops, "TFLOP/s")} " +
               $"({MatrixShape}), fp8 e4m3 matrix {R(Fp8Tflops, "TFLOP/s")}, int8 matrix {R(Int8Tops, "TOP/s")}";
    }
}

/// <summary>Which matrix unit a kernel's flops run on, for its floor.</summary>
public enum MatrixRate { Bf16, Fp8, Int8 }

/// <summary>One prefill step of one preset, mode (eager / layer / segment) and token count.</summary>
public sealed record PrefillPoint(
    string Preset,
    string Quant,
    string Mode,
    int Tokens,
    double WallMs,
    double GpuSpanMs,
    double BusyMs,
    double FloorMs,
    string FloorBound,
    double WeightBytesRead,
    double ExpertsHit,
    double Flops,
    double TracedWallMs = double.NaN)
{
    public double FloorRatio => FloorMs > 0 ? WallMs / FloorMs : double.NaN;

    /// <summary>Busy over the wall of the traced steps it was measured in; over the untraced wall where that is all there is (older files).</summary>
    public double BusyFraction => double.IsFinite(TracedWallMs) && TracedWallMs > 0 ? BusyMs / TracedWallMs : WallMs > 0 ? BusyMs / WallMs : double.NaN;
}

/// <summary>A PyTorch peer's time for the same point, or why it is missing.</summary>
public sealed record PeerTime(string Name, double? Ms, string? Error);

/// <summary>One kernel micro-benchmark figure beside its floor and its peer.</summary>
public sealed record KernelPoint(
    string Family,
    string Variant,
    string Shape,
    int Tokens,
    double Ms,
    double FloorMs,
    string FloorBound,
    string? Note = null,
    int Instances = 0,
    int Repeats = 0)
{
    public double FloorRatio => FloorMs > 0 ? Ms / FloorMs : double.NaN;
}

/// <summary>A single measured figure (capture time, host dispatch per layer, ...) with the target it is held to.</summary>
public sealed record Figure(string Group, string Name, double Value, string Unit, string? Target = null, string? Note = null);

/// <summary>A benchmark that could not run: a layer or mode not built yet, or a peer that failed.</summary>
public sealed record Missing(string What, string Reason);

/// <summary>Everything one `graphengine bench` call measured.</summary>
public sealed class BenchReport
{
    public string Device { get; init; } = "";

    /// <summary>The commit, device, driver and NVRTC that produced these figures.</summary>
    public GraphEngine.Hosting.Provenance? Provenance { get; init; }

    /// <summary>How kernels (ours and the peers) were timed.</summary>
    public string KernelTimingMethod { get; init; } = RotatedTimer.Method;
    public string Command { get; init; } = "";
    public DateTimeOffset When { get; init; } = DateTimeOffset.UtcNow;
    public int Repetitions { get; init; }
    public int Warmup { get; init; }
    public string BusyTimeMethod { get; init; } = "";
    public Ceilings? Ceilings { get; set; }
    public List<PrefillPoint> Prefill { get; } = new();
    public List<KernelPoint> Kernels { get; } = new();
    public List<Missing> Missing { get; } = new();
    public List<Figure> Figures { get; } = new();

    /// <summary>Series whose time does not grow with their size (<see cref="ScalingGuard"/>).</summary>
    public List<ScalingFlag> Flags { get; } = new();

    /// <summary>
    /// True when the figures are the host CPU's (the reference backend): the writers then never call them GPU
    /// times, and there is no busy time.
    /// </summary>
    public bool HostFigures { get; init; }

    /// <summary>Peer times keyed by "preset|quant|mode|tokens" (prefill) or "family|variant|shape|tokens" (kernels).</summary>
    public Dictionary<string, PeerTime> Peers { get; } = new();

    public string? TorchVersion { get; set; }
    public string? TorchError { get; set; }

    public static string PrefillKey(string preset, string quant, string mode, int tokens) => $"prefill|{preset}|{quant}|{mode}|{tokens}";
    public static string KernelKey(string family, string variant, string shape, int tokens) => $"kernel|{family}|{variant}|{shape}|{tokens}";

    public PeerTime? Peer(string key) => Peers.TryGetValue(key, out var p) ? p : null;

    /// <summary>Whether <paramref name="who"/>'s ("ours", else the peer) figure at <paramref name="key"/> is in a flagged series.</summary>
    public bool IsFlagged(string key, bool ours) => Flags.Any(f => (f.Who == "ours") == ours && f.Keys.Contains(key));
}
