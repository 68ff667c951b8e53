using System.Diagnostics;
using GraphEngine.Conformance;
using GraphEngine.Hosting;
using GraphEngine.Kernels;
using Spectre.Console;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// `graphengine check`: the conformance suite on the chosen device. Prints the device, one line per
/// failure (case and detail), the wall time ("checked N cases in S s (R cases/s)"), then exactly
/// "N passed, N failed" as the last line; exit 1 on any failure.
/// Full-tier cases (large shapes) run on CUDA, and on the reference backend only with --full.
/// </summary>
public static class CheckCommand
{
    /// <summary>--tier ci|full (null: chosen by backend); --full is --tier full.</summary>
    public static CaseTier? ParseTier(string? tier, bool full) => tier?.Trim().ToLowerInvariant() switch
    {
        null => full ? CaseTier.Full : null,
        "ci" => CaseTier.Ci,
        "full" => CaseTier.Full,
        _ => throw new UsageException($"unknown tier {InputText.Quote(tier)} (from --tier); accepted: ci, full"),
    };

    /// <summary>Most cases run at once: more only contend for the host's cores and the GPU.</summary>
    public const int MaxJobs = 64;

    /// <summary>--jobs: cases run at once (null: <see cref="ConcurrentCases"/>); 1 to <see cref="MaxJobs"/>.</summary>
    public static int? ParseJobs(string? jobs) => jobs is null ? null : OptionValues.Int(jobs, "--jobs", 1, MaxJobs);

    private static UsageException NoCase(string? filter) =>
        new($"--filter {InputText.Quote(filter)} selects no conformance case (see check --list)");

    public static int Execute(CommandContext ctx, string? filter, bool listOnly, CaseTier? maxTier, int? jobs = null)
    {
        var console = ctx.Console;
        if (listOnly) return List(ctx, filter);
        // Before the device opens: a filter that selects nothing at any tier will select nothing at the device's.
        if (!ConformanceSuite.Select(filter, maxTier ?? CaseTier.Full).Any())
            throw NoCase(filter);

        using var device = ctx.OpenDevice();
        var provenance = Provenance.For(device);
        console.Line($"device: {device.Info}; commit {BuildInfo.Describe()}; NVRTC {provenance.Nvrtc}");
        var tier = maxTier ?? (device.Kind == BackendKind.Cuda ? CaseTier.Full : CaseTier.Ci);
        var cases = ConformanceSuite.Select(filter, tier).ToList();
        if (cases.Count == 0)
            throw NoCase(filter);

        // Before the kernels compile: a refused --jobs costs nothing.
        int degree = JobsOn(device.Kind, jobs) ?? ConcurrentCases(device);
        int passed = 0, failed = 0;
        var wall = Stopwatch.StartNew();
        var cpu = HostCpu.Start();
        if (device is GraphEngine.Kernels.Cuda.CudaDevice cuda)
        {
            var warm = KernelWarmup.Compile(cuda, cases);
            console.Line($"compiled or loaded {warm.Kernels} kernel variants the cases declare, in parallel, in {warm.Seconds:F1} s ({cpu.Lap()})" +
                         (warm.FirstError is null ? "" : $" (some did not compile, left to their cases: {InputText.Quote(warm.FirstError)})"));
        }
        var results = new (ConformanceCase Case, CaseResult Result, double Ms)[cases.Count];
        void Report(int i, Action<string> line)
        {
            var (c, r, ms) = results[i];
            if (r.Passed)
            {
                passed++;
                if (ctx.Settings.Debug) line($"pass {c.Name} ({ms:F0} ms): {r.Detail}");
            }
            else
            {
                failed++;
                line($"FAIL {c.Name}: {OneLine(r.Detail)}");
            }
        }
        void RunAll(Action<string> line, Action<string, int> progress)
        {
            // Runs of consecutive concurrent cases go `degree` at a time (their float64 oracles and host quantizers
            // are most of the wall time, and the GPU has room); the rest one by one. Lines come out in case order.
            int next = 0, done = 0;
            object gate = new();
            while (next < cases.Count)
            {
                int end = next + 1;
                if (cases[next].Concurrent && degree > 1)
                    while (end < cases.Count && cases[end].Concurrent) end++;
                int first = next, reported = first, taken = first - 1;
                // Each worker takes the next case when it finishes one (not a range of them), so a long case
                // never holds up short ones queued behind it on the same worker.
                Parallel.For(0, Math.Min(degree, end - first), new ParallelOptions { MaxDegreeOfParallelism = degree }, _ =>
                {
                    for (int i; (i = Interlocked.Increment(ref taken)) < end;)
                    {
                        var sw = Stopwatch.StartNew();
                        var r = ConformanceSuite.RunOne(cases[i], device);
                        double ms = sw.Elapsed.TotalMilliseconds;
                        lock (gate)
                        {
                            results[i] = (cases[i], r, ms);
                            // Report every finished case whose predecessors have all been reported.
                            while (reported < end && results[reported].Case is not null)
                            {
                                Report(reported, line);
                                progress(cases[reported].Name, ++done);
                                reported++;
                            }
                        }
                    }
                });
                next = end;
            }
        }
        if (console.Interactive && !ctx.Settings.Json)
        {
            // A bar on a terminal (the full tier runs for a minute or more); logs and pipes get the plain lines only.
            console.Ui.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask("check", maxValue: cases.Count);
                    RunAll(text => console.Ui.WriteLine(text), (name, count) =>
                    {
                        task.Description = $"check {Markup.Escape(name)}";
                        task.Value = count;
                    });
                });
        }
        else
        {
            RunAll(console.Line, (_, _) => { });
        }
        double wallSeconds = wall.Elapsed.TotalSeconds;
        string casesCpu = cpu.Lap();
        if (ctx.Settings.Json)
        {
            var rows = results.Select(x => new { name = x.Case.Name, area = x.Case.Area, passed = x.Result.Passed, detail = x.Result.Detail, ms = Math.Round(x.Ms, 2) });
            JsonReport.Write(ctx, "check", device, new
            {
                provenance, tier, passed, failed, wallSeconds = Math.Round(wallSeconds, 3), concurrentCases = degree,
                hostCpuSeconds = Math.Round(cpu.TotalSeconds, 1), hostCores = Environment.ProcessorCount, cases = rows,
            });
        }
        console.Line($"{WallLine(cases.Count, wallSeconds)}; {degree} at a time, cases {casesCpu}");
        console.Line($"{passed} passed, {failed} failed");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>
    /// check --list: each selected case with the kernel variants it runs on the H200 (sm_90), then every variant the
    /// launchers can select on any architecture with the cases that reach it, "not on this GPU" for those only
    /// another architecture's rule selects and no case runs here.
    /// </summary>
    private static int List(CommandContext ctx, string? filter)
    {
        var console = ctx.Console;
        var target = LaunchTarget.H200;
        var cases = ConformanceSuite.Select(filter).ToList();
        var table = KernelVariants.Table(target, cases);
        string targetText = $"{target.Architecture} (H200: {target.SmCount} SMs, {target.MaxSharedPerBlockOptin / 1024} KiB shared memory per block)";
        if (ctx.Settings.Json)
        {
            JsonReport.Write(ctx, "check --list", null, new
            {
                count = cases.Count,
                target = new { architecture = target.Architecture, smCount = target.SmCount, maxSharedPerBlockOptin = target.MaxSharedPerBlockOptin },
                cases = cases.Select(c => new { name = c.Name, area = c.Area, tier = c.Tier, variants = c.VariantsOn(target) }),
                variants = table.Select(r => new
                {
                    name = r.Name, family = r.Family, selectableHere = r.OnTarget, architectures = r.Architectures,
                    notOnThisGpu = r.Cases.Count == 0 && !r.OnTarget, cases = r.Cases,
                }),
            });
            return ExitCodes.Ok;
        }
        foreach (var c in cases)
        {
            var v = c.VariantsOn(target);
            console.Line(v.Count == 0 ? $"{c.Name}  [{c.Area}, {c.Tier}]" : $"{c.Name}  [{c.Area}, {c.Tier}]  runs: {string.Join("; ", v)}");
        }
        console.Line($"{cases.Count} cases");
        console.Line($"kernel variants on {targetText}, the cases that run them:");
        foreach (var r in table)
        {
            string who = r.Cases.Count > 0 ? $"{r.Cases.Count} case(s), e.g. {r.Cases[0]}"
                : r.OnTarget ? "REACHED BY NO CASE"
                : $"not on this GPU (selected on {string.Join(", ", r.Architectures)})";
            string forced = r.Cases.Count > 0 && !r.OnTarget ? $" (the rule picks it on {string.Join(", ", r.Architectures)}; run here by those cases)" : "";
            console.Line($"  {r.Family}: {r.Name}  <- {who}{forced}");
        }
        int here = table.Count(r => r.OnTarget), reached = table.Count(r => r.OnTarget && r.Cases.Count > 0);
        console.Line($"{reached} of {here} variants selectable on {target.Architecture} reached; {table.Count(r => !r.OnTarget && r.Cases.Count == 0)} only on other architectures");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Cases `check` runs at once where they may (<see cref="ConformanceCase.Concurrent"/>): a quarter of the host's cores,
    /// up to 4, on a GPU; one on the reference backend, whose kernels already use every core.
    /// </summary>
    internal static int ConcurrentCases(Device device) =>
        device.Kind == BackendKind.Cuda ? Math.Clamp(Environment.ProcessorCount / 4, 1, 4) : 1;

    /// <summary>The most cases run at once on a GPU: one per core of the 16-core H200 host. (Eight at once once failed a
    /// wo_gemv launch there: two plans raising one kernel's shared memory limit at once, see SharedMemoryLimit.)</summary>
    internal const int MaxCudaJobs = 16;

    /// <summary><paramref name="jobs"/> where <paramref name="kind"/> may run that many cases at once; exit 2 above <see cref="MaxCudaJobs"/> on CUDA.</summary>
    internal static int? JobsOn(BackendKind kind, int? jobs) =>
        kind == BackendKind.Cuda && jobs > MaxCudaJobs
            ? throw new UsageException($"--jobs {jobs} (from --jobs): on a GPU at most {MaxCudaJobs} cases run at once (more have not been shown safe)")
            : jobs;

    /// <summary>"checked N cases in S s (R cases/s)": the wall time of the whole run, cases in order.</summary>
    public static string WallLine(int cases, double seconds) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"checked {cases} cases in {seconds:F1} s ({(seconds > 0 ? cases / seconds : 0):F1} cases/s)");

    private static string OneLine(string s) => s.ReplaceLineEndings(" | ");
}
