using System.CommandLine;
using GraphEngine.Bench;
using GraphEngine.Hosting;

namespace GraphEngine.Cli.Commands;

/// <summary>The switches of `graphengine bench`, bound to <see cref="BenchOptions"/>.</summary>
internal sealed class BenchCommandLine
{
    public readonly Option<string> Out = new("--out") { Description = "Directory for bench.json, bench.md and bench.svg (default: bench-out)" };
    public readonly Option<bool> Torch = new("--torch") { Description = "Also run bench/torch_reference.py and print ours / theirs" };
    public readonly Option<string> Suite = new("--suite") { Description = "prefill (default), kernels or all" };
    public readonly Option<int> Reps = new("--reps") { Description = "Timed repetitions per point (median reported); default 20", DefaultValueFactory = _ => 20 };
    public readonly Option<int> Warmup = new("--warmup") { Description = "Untimed repetitions before timing; default 3", DefaultValueFactory = _ => 3 };
    public readonly Option<string> Python = new("--python") { Description = "Python interpreter for --torch (default: python3)" };
    public readonly Option<string> Script = new("--torch-script") { Description = "Path of torch_reference.py (default: found beside the program or in bench/)" };

    public readonly Option<string> Families = new("--families")
    {
        Description = "Kernel suite only: comma-separated families to run (rmsnorm, linear, block_fp8, moe, moe_gemm, w4afp8); default all",
    };

    public Option[] All => new Option[] { Out, Torch, Suite, Reps, Warmup, Python, Script, Families };

    private static readonly string[] KnownFamilies = { "rmsnorm", "linear", "block_fp8", "moe", "moe_gemm", "w4afp8" };

    public BenchOptions Bind(ParseResult pr)
    {
        string suiteText = pr.GetValue(Suite) ?? "prefill";
        var suite = suiteText.Trim().ToLowerInvariant() switch
        {
            "prefill" => BenchSuite.Prefill,
            "kernels" => BenchSuite.Kernels,
            "all" => BenchSuite.All,
            _ => throw new UsageException($"unknown bench suite '{suiteText}' (from --suite); accepted: prefill, kernels, all"),
        };
        int reps = pr.GetValue(Reps), warm = pr.GetValue(Warmup);
        if (reps < 1) throw new UsageException($"--reps {reps} must be >= 1");
        if (warm < 0) throw new UsageException($"--warmup {warm} must be >= 0");
        string[]? families = null;
        if (pr.GetValue(Families) is { } fam)
        {
            families = fam.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            foreach (var f in families)
                if (!KnownFamilies.Contains(f, StringComparer.OrdinalIgnoreCase))
                    throw new UsageException($"unknown kernel family '{f}' (from --families); accepted: {string.Join(", ", KnownFamilies)}");
        }
        return new BenchOptions(pr.GetValue(Out) ?? "bench-out", pr.GetValue(Torch), suite, reps, warm,
            pr.GetValue(Python) ?? "python3", pr.GetValue(Script), families);
    }
}
