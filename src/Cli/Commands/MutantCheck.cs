using GraphEngine.Conformance;
using GraphEngine.Hosting;
using GraphEngine.Kernels;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// `graphengine check --mutants`: plants each deliberately broken kernel of <see cref="MutantCatalog"/> and runs
/// the cases that reach it. Prints one row per mutant (caught by which case, or MISSED / NOT REACHED), then
/// "N caught, N missed, N not applicable"; --json prints one document instead. Exit 0 when every applicable
/// mutant is caught, 1 otherwise; --filter selects mutants by define or family (2 when it selects none).
/// </summary>
public static class MutantCheck
{
    /// <summary>Runs (or with <paramref name="listOnly"/> lists) the mutants selected by <paramref name="filter"/>.</summary>
    public static int Execute(CommandContext ctx, string? filter, bool listOnly, CaseTier? maxTier)
    {
        var console = ctx.Console;
        var mutants = MutantCatalog.Select(filter);
        if (mutants.Count == 0)
            throw new UsageException($"--filter {InputText.Quote(filter)} selects no mutant (see check --mutants --list)");
        if (listOnly)
        {
            if (ctx.Settings.Json)
            {
                JsonReport.Write(ctx, "check --mutants --list", null, new
                {
                    count = mutants.Count,
                    mutants = mutants.Select(m => new { define = m.Define, family = m.Family, bug = m.Bug, sources = m.Sources, cases = m.CaseFilter, onReference = m.OnReference }),
                });
                return ExitCodes.Ok;
            }
            foreach (var m in mutants) console.Line($"{m.Define}  [{m.Family}{(m.OnReference ? ", reference too" : "")}]: {m.Bug}");
            console.Line($"{mutants.Count} mutants");
            return ExitCodes.Ok;
        }

        using var device = ctx.OpenDevice();
        console.Line($"device: {device.Info}; commit {BuildInfo.Describe()}");
        var tier = maxTier ?? (device.Kind == BackendKind.Cuda ? CaseTier.Full : CaseTier.Ci);
        var runner = new MutantRunner(device, tier);
        var wall = System.Diagnostics.Stopwatch.StartNew();
        var results = new List<MutantResult>();
        foreach (var m in mutants)
        {
            var r = runner.Run(m);
            results.Add(r);
            if (!ctx.Settings.Json) console.Line(Row(r));
        }
        int caught = results.Count(r => r.Outcome == MutantOutcome.Caught);
        int notApplicable = results.Count(r => r.Outcome == MutantOutcome.NotApplicable);
        int missed = results.Count - caught - notApplicable;
        if (ctx.Settings.Json)
        {
            JsonReport.Write(ctx, "check --mutants", device, new
            {
                tier,
                caught,
                missed,
                notApplicable,
                wallSeconds = Math.Round(wall.Elapsed.TotalSeconds, 3),
                mutants = results.Select(r => new
                {
                    define = r.Mutant.Define,
                    family = r.Mutant.Family,
                    bug = r.Mutant.Bug,
                    outcome = r.Outcome,
                    caughtBy = r.CaughtBy,
                    detail = r.Detail,
                    casesRun = r.CasesRun,
                    uses = r.Uses,
                    seconds = Math.Round(r.Seconds, 3),
                }),
            });
        }
        console.Line(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"ran {results.Count} mutants in {wall.Elapsed.TotalSeconds:F1} s"));
        console.Line($"{caught} caught, {missed} missed, {notApplicable} not applicable");
        return missed == 0 && caught > 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>One table row: outcome, define, family, and the catching case or why nothing caught it.</summary>
    public static string Row(MutantResult r)
    {
        string outcome = r.Outcome switch
        {
            MutantOutcome.Caught => "caught",
            MutantOutcome.Missed => "MISSED",
            MutantOutcome.NotReached => "NOT REACHED",
            _ => "n/a",
        };
        string what = r.Outcome == MutantOutcome.Caught ? $"by {r.CaughtBy} ({r.CasesRun} cases run): {r.Detail}" : r.Detail;
        return $"{outcome,-11}  {r.Mutant.Define,-34}  {r.Mutant.Family,-22}  {what}";
    }
}
