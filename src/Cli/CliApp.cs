using System.CommandLine;
using GraphEngine.Cli.Commands;

namespace GraphEngine.Cli;

/// <summary>The graphengine command line: run | list | check | bench | profile | faults | soak.</summary>
public static class CliApp
{
    public static int Start(string[] args) => Run(args, CliConsole.ForProcess());

    /// <summary>
    /// Parses and runs <paramref name="args"/>. <paramref name="environment"/> replaces the process's
    /// environment variables as a configuration source (tests pass their own).
    /// </summary>
    public static int Run(string[] args, CliConsole console, IDictionary<string, string?>? environment = null)
    {
        var shared = new SharedOptions();
        var root = new RootCommand("GraphEngine: block-wise CUDA graphs for LLM prefill layers");
        foreach (var o in shared.All) root.Options.Add(o);

        var run = new Command("run", "Build a preset with random weights, capture, and run prefill steps (eager and graph)");
        run.SetAction(pr => Execute(pr, shared, console, environment, ctx => RunCommand.Execute(ctx)));
        root.Subcommands.Add(run);

        var list = new Command("list", "Capture and print the engine's listing (graph/eager per layer, sizes, reasons)");
        list.SetAction(pr => Execute(pr, shared, console, environment, ctx => ListCommand.Execute(ctx)));
        root.Subcommands.Add(list);

        var filter = new Option<string>("--filter") { Description = "Comma-separated substrings; cases whose name contains any run" };
        var listCases = new Option<bool>("--list") { Description = "Print the selected case names and exit" };
        var full = new Option<bool>("--full") { Description = "Include Full-tier (large) cases on the reference backend too" };
        var tier = new Option<string>("--tier") { Description = "ci or full: the largest case tier to run (default: full on CUDA, ci on the reference backend)" };
        var mutants = new Option<bool>("--mutants")
        {
            Description = "Plant each deliberately broken kernel (NVRTC GE_MUTANT_* defines; reference twins where they exist) and "
                          + "report whether the cases that reach it catch it; --filter then selects mutants by define or family",
        };
        var jobs = new Option<string>("--jobs") { Description = "Cases run at once (1 to 64, at most 16 on a GPU; default: a quarter of the host's cores, up to 4, on CUDA; 1 on the reference backend)" };
        var oracle = new Option<string>("--oracle")
        {
            Description = "With --model: compare each layer with outputs recorded in this safetensors file "
                          + "(bench/interop/transformers_layers.py) instead of the float64 oracle",
        };
        var check = new Command("check", "Run the conformance suite on the chosen device; prints failures and 'N passed, N failed'. "
                                         + "With --model DIR: load the checkpoint and compare every layer with a float64 oracle "
                                         + "(or --oracle FILE)");
        check.Options.Add(filter);
        check.Options.Add(listCases);
        check.Options.Add(full);
        check.Options.Add(tier);
        check.Options.Add(oracle);
        check.Options.Add(mutants);
        check.Options.Add(jobs);
        check.SetAction(pr => Execute(pr, shared, console, environment,
            ctx => ctx.Settings.ModelDirectory is not null || pr.GetValue(oracle) is not null
                ? ModelCheckCommand.Execute(ctx, pr.GetValue(oracle))
                : pr.GetValue(mutants)
                    ? MutantCheck.Execute(ctx, OptionValues.Filter(pr.GetValue(filter), "--filter"), pr.GetValue(listCases), CheckCommand.ParseTier(pr.GetValue(tier), pr.GetValue(full)))
                    : CheckCommand.Execute(ctx, OptionValues.Filter(pr.GetValue(filter), "--filter"), pr.GetValue(listCases), CheckCommand.ParseTier(pr.GetValue(tier), pr.GetValue(full)),
                        CheckCommand.ParseJobs(pr.GetValue(jobs)))));
        root.Subcommands.Add(check);

        var bench = new BenchCommandLine();
        var benchCmd = new Command("bench", "The prefill sweep and kernel micro-benchmarks; writes JSON, markdown and SVG into --out");
        foreach (var o in bench.All) benchCmd.Options.Add(o);
        benchCmd.SetAction(pr => Execute(pr, shared, console, environment, ctx => BenchCommand.Execute(ctx, bench.Bind(pr))));
        root.Subcommands.Add(benchCmd);

        var profile = new ProfileCommandLine();
        var profileCmd = new Command("profile", "CUPTI timeline of real prefill steps per token count and mode: busy time, gaps, kernels");
        foreach (var o in profile.All) profileCmd.Options.Add(o);
        profileCmd.SetAction(pr => Execute(pr, shared, console, environment, ctx =>
        {
            var (steps, outDir, modes) = profile.Bind(pr);
            return ProfileCommand.Execute(ctx, steps, outDir, modes);
        }));
        root.Subcommands.Add(profileCmd);

        var faultsFilter = new Option<string>("--filter") { Description = "Comma-separated substrings; faults whose name contains any run" };
        var faults = new Command("faults", "Inject every fault of the matrix (capture, out of memory, compile, upload, corrupt kernel cache) on the chosen device; "
                                           + "prints 'survived'/'FAILED' per fault and a summary");
        faults.Options.Add(faultsFilter);
        faults.SetAction(pr => Execute(pr, shared, console, environment, ctx => FaultsCommand.Execute(ctx, OptionValues.Filter(pr.GetValue(faultsFilter), "--filter"))));
        root.Subcommands.Add(faults);

        var soak = new SoakCommandLine();
        var soakCmd = new Command("soak", "Replay the captured graphs many times at mixed token counts; measure host and device memory growth and "
                                          + "check the last step against the first at the same n");
        foreach (var o in soak.All) soakCmd.Options.Add(o);
        soakCmd.SetAction(pr => Execute(pr, shared, console, environment, ctx => SoakCommand.Execute(ctx, soak.Bind(pr))));
        root.Subcommands.Add(soakCmd);

        root.SetAction(pr =>
        {
            WriteError(console, "a command is required (run, list, check, bench, profile, faults, soak); see --help");
            return ExitCodes.Usage;
        });

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line naming the offending token; System.CommandLine's own handler prints the whole help.
            // Tokens echoed by the parser are cut like every other value.
            WriteError(console, System.Text.RegularExpressions.Regex.Replace(parsed.Errors[0].Message, "'([^']{81,})'", m => InputText.Quote(m.Groups[1].Value)));
            return ExitCodes.Usage;
        }
        return parsed.Invoke(new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            EnableDefaultExceptionHandler = false,
        });
    }

    private static int Execute(ParseResult pr, SharedOptions shared, CliConsole console,
        IDictionary<string, string?>? environment, Func<CommandContext, int> body)
    {
        var cli = shared.Bind(pr);
        bool debug = cli.Debug;
        try
        {
            var config = CliConfiguration.Build(cli, environment);
            var settings = RunSettings.Bind(config, cli);
            debug = settings.Debug;
            // --json: stdout holds one document and nothing else; every other line of the command goes to stderr.
            using var ctx = new CommandContext(settings.Json ? console.ForJson() : console, cli, config, settings, pr.Tokens.Select(t => t.Value).ToArray());
            return body(ctx);
        }
        catch (Exception e) when (IsBadInput(e))
        {
            WriteError(console, e.Message, debug ? e : null);
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            WriteError(console, $"{e.GetType().Name}: {e.Message}", debug ? e : null, hint: !debug);
            return ExitCodes.Failed;
        }
    }

    /// <summary>Bad input from any layer: the CLI's own, a configuration value, a quantization setting.</summary>
    private static bool IsBadInput(Exception e) =>
        e is UsageException or GraphEngine.Graph.EngineConfigurationException or GraphEngine.Layers.QuantConfigException;

    /// <summary>The longest error line printed; values inside are already cut to a readable length.</summary>
    internal const int MaxErrorLine = 2000;

    /// <summary>
    /// Writes "graphengine: error: ..." as exactly one line (line breaks replaced, cut to <see cref="MaxErrorLine"/>),
    /// then the stack trace when <paramref name="trace"/> is given (--debug). A closed or full stderr must not
    /// turn bad input into a crash: the write's IOException is swallowed and the exit code stands.
    /// </summary>
    internal static void WriteError(CliConsole console, string message, Exception? trace = null, bool hint = false)
    {
        string line = InputText.OneLine($"graphengine: error: {message}");
        if (line.Length > MaxErrorLine) line = line[..MaxErrorLine] + $"… ({line.Length} chars)";
        try
        {
            console.Error.WriteLine(line);
            if (trace is not null) console.Error.WriteLine(trace);
            else if (hint) console.Error.WriteLine("(run with --debug for the stack trace)");
            console.Error.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            // Nowhere left to report it; the exit code still says what happened.
        }
    }

    /// <summary>Options every command takes; all recursive so they may follow the command name.</summary>
    private sealed class SharedOptions
    {
        public readonly Option<string> Config = new("--config") { Description = "JSON configuration file (default: ./graphengine.json when present)", Recursive = true };
        public readonly Option<string> Preset = new("--preset") { Description = "Model preset: tiny (default), ernie45-21b-a3b, llama3-8b", Recursive = true };
        public readonly Option<string> Model = new("--model") { Description = "Hugging Face checkpoint directory (config.json + safetensors) instead of --preset", Recursive = true };
        public readonly Option<string> Quant = new("--quant") { Description = "Quantization: a mode (bf16, wint8, wint4, block_wise_fp8, w4afp8, wi4a16, nvfp4) or FastDeploy's mix_quant JSON", Recursive = true };
        public readonly Option<string> Sizes = new("--sizes") { Description = "Captured token counts, comma-separated (GraphEngine:BlockWiseCudaGraph:Sizes)", Recursive = true };
        public readonly Option<string> Granularity = new("--granularity") { Description = "Layer or Segment", Recursive = true };
        public readonly Option<string> Backend = new("--backend") { Description = "cuda, reference or auto (default)", Recursive = true };
        public readonly Option<string> Tokens = new("--tokens") { Description = "Token counts of the prefill steps, comma-separated (default: the preset's spread)", Recursive = true };
        public readonly Option<bool> Debug = new("--debug") { Description = "Engine debug log and stack traces on errors", Recursive = true };
        public readonly Option<bool> Json = new("--json") { Description = "Print one JSON document on stdout instead of tables (everything else goes to stderr)", Recursive = true };

        public Option[] All => new Option[] { Config, Preset, Model, Quant, Sizes, Granularity, Backend, Tokens, Debug, Json };

        public CliOptions Bind(ParseResult pr) => new(
            pr.GetValue(Config), pr.GetValue(Preset), pr.GetValue(Quant), pr.GetValue(Sizes), pr.GetValue(Granularity),
            pr.GetValue(Backend), pr.GetValue(Tokens), pr.GetValue(Debug), pr.GetValue(Json), pr.GetValue(Model));
    }
}
