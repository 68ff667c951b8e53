namespace GraphEngine.Bench;

public enum BenchSuite { Prefill, Kernels, All }

/// <summary>Options of `graphengine bench`.</summary>
public sealed record BenchOptions(
    string OutDir,
    bool Torch,
    BenchSuite Suite,
    int Repetitions,
    int Warmup,
    string Python,
    string? TorchScript,
    IReadOnlyList<string>? Families = null,
    string? ReadmeTableFrom = null);
