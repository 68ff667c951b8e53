using System.CommandLine;
using GraphEngine.Bench;
using GraphEngine.Graph;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// The switches of `graphengine bench`, bound to <see cref="BenchOptions"/>. Everything is checked here,
/// before the device opens: a benchmark takes minutes, and a bad --out or --reps must not cost them.
/// </summary>
internal sealed class BenchCommandLine
{
    /// <summary>Largest --reps / --warmup: more would run for days, so it is a typo.</summary>
    public const int MaxRepetitions = 10_000;

    /// <summary>Ten: a prefill point also traces ten steps with CUPTI, and the whole `--suite all --torch` must stay in minutes.</summary>
    public const int DefaultRepetitions = 10;

    public readonly Option<string> Out = new("--out") { Description = "Directory for bench.json, bench.md and bench.svg (default: bench-out)" };
    public readonly Option<bool> Torch = new("--torch") { Description = "Also run bench/torch_reference.py and print ours / theirs" };
    public readonly Option<string> Suite = new("--suite") { Description = "prefill (default), kernels or all" };
    public readonly Option<string> Reps = new("--reps") { Description = $"Timed repetitions per point (median reported), 1 to {MaxRepetitions}; default {DefaultRepetitions}" };
    public readonly Option<string> Warmup = new("--warmup") { Description = $"Untimed repetitions before timing, 0 to {MaxRepetitions}; default 3" };
    public readonly Option<string> Python = new("--python") { Description = "Python interpreter for --torch (default: python3)" };
    public readonly Option<string> Script = new("--torch-script") { Description = "Path of torch_reference.py (default: found beside the program or in bench/)" };

    public readonly Option<string> Families = new("--families")
    {
        Description = "Kernel suite only: comma-separated families to run (rmsnorm, linear, block_fp8, moe, moe_gemm, w4afp8); default all",
    };

    public readonly Option<string> ReadmeTable = new("--readme-table")
    {
        Description = "Measure nothing: write the README's results table (readme-table.md) and chart (prefill.svg) into --out from this " +
                      "bench.json (the preset: --preset, else the file's first)",
    };

    public Option[] All => new Option[] { Out, Torch, Suite, Reps, Warmup, Python, Script, Families, ReadmeTable };

    private static readonly string[] KnownFamilies = { "rmsnorm", "linear", "block_fp8", "moe", "moe_gemm", "w4afp8" };

    public BenchOptions Bind(ParseResult pr)
    {
        string suiteText = pr.GetValue(Suite) ?? "prefill";
        var suite = suiteText.Trim().ToLowerInvariant() switch
        {
            "prefill" => BenchSuite.Prefill,
            "kernels" => BenchSuite.Kernels,
            "all" => BenchSuite.All,
            _ => throw new UsageException($"unknown bench suite {InputText.Quote(suiteText)} (from --suite); accepted: prefill, kernels, all"),
        };
        int reps = Count(pr.GetValue(Reps), "--reps", DefaultRepetitions, 1);
        int warm = Count(pr.GetValue(Warmup), "--warmup", 3, 0);
        string[]? families = pr.GetValue(Families) is { } fam ? OptionValues.Names(fam, "--families", "kernel family", KnownFamilies) : null;
        string python = pr.GetValue(Python) ?? "python3";
        if (string.IsNullOrWhiteSpace(python))
            throw new UsageException("--python is empty: give the interpreter to run torch_reference.py with (default python3)");
        string? script = pr.GetValue(Script);
        // Python would wait for ever on a FIFO with no writer, minutes into the bench.
        if (script is not null) BenchPaths.RequireFile(script, "--torch-script", seekable: true);
        string? readme = pr.GetValue(ReadmeTable);
        if (readme is not null) BenchPaths.RequireFile(readme, "--readme-table");
        // Last: the only check that touches the disk (it creates the directory and probes it).
        string outDir = BenchPaths.PrepareOutDir(pr.GetValue(Out) ?? "bench-out", "--out");
        return new BenchOptions(outDir, pr.GetValue(Torch), suite, reps, warm, python, script, families, readme);
    }

    private static int Count(string? text, string option, int dflt, int min) =>
        text is null ? dflt : OptionValues.Int(text, option, min, MaxRepetitions);
}
