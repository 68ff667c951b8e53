using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.NoEmit;
using GraphEngine.Bench.HostCosts;
using GraphEngine.Kernels;

// graphengine-bench: host-side costs with BenchmarkDotNet, in process (the GPU machine has no SDK to
// build the usual per-benchmark executables). `--backend cuda|reference|auto` picks the device; the
// remaining arguments go to BenchmarkDotNet (`--filter *Replay*`, `--list flat`, `--job short`).
var rest = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--backend" && i + 1 < args.Length)
    {
        string b = args[++i].Trim().ToLowerInvariant();
        HostCosts.Backend = b switch
        {
            "cuda" => BackendPreference.Cuda,
            "reference" => BackendPreference.Reference,
            "auto" => BackendPreference.Auto,
            _ => throw new ArgumentException($"unknown backend '{args[i]}' (from --backend); accepted: cuda, reference, auto"),
        };
    }
    else rest.Add(args[i]);
}
if (!rest.Contains("--filter")) rest.AddRange(new[] { "--filter", "*" });

var config = ManualConfig.Create(DefaultConfig.Instance)
    .AddJob(Job.ShortRun.WithToolchain(InProcessNoEmitToolchain.Instance).WithId("in-process"))
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(HostCosts).Assembly).Run(rest.ToArray(), config);
return 0;
