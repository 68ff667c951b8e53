using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>Bad command-line switches: exit 2 and one line naming the value and the switch.</summary>
public class CliOptionTests
{
    [Theory]
    [InlineData("check|--preset|nonesuch", "'nonesuch'", "--preset")]
    [InlineData("run|--preset|TINY2", "'TINY2'", "--preset")]
    [InlineData("list|--preset|llama", "'llama'", "--preset")]
    [InlineData("check|--backend|gpu", "'gpu'", "--backend")]
    [InlineData("run|--backend|cudaa", "'cudaa'", "--backend")]
    [InlineData("run|--backend|reference|--tokens|0", "'0'", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|-1", "'-1'", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|1,,2", "empty", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|abc", "'abc'", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|1.5", "'1.5'", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|1;2", "'1;2'", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|+3", "'+3'", "--tokens")]
    [InlineData("run|--backend|reference|--tokens|2147483648", "'2147483648'", "out of range")]
    [InlineData("run|--backend|reference|--tokens|2147483647", "'2147483647'", "out of range")]
    [InlineData("run|--backend|reference|--tokens|99999999999999999999999", "'99999999999999999999999'", "out of range")]
    [InlineData("run|--backend|reference|--tokens|,", "empty", "--tokens")]
    [InlineData("run|--backend|reference|--sizes|0", "'0'", "--sizes")]
    [InlineData("run|--backend|reference|--sizes|-4", "'-4'", "--sizes")]
    [InlineData("run|--backend|reference|--sizes|x", "'x'", "--sizes")]
    [InlineData("run|--backend|reference|--sizes|1,,2", "empty", "--sizes")]
    [InlineData("run|--backend|reference|--sizes|2147483648", "'2147483648'", "--sizes")]
    [InlineData("list|--backend|reference|--sizes|1;2", "'1;2'", "--sizes")]
    [InlineData("list|--backend|reference|--granularity|block", "'block'", "--granularity")]
    [InlineData("run|--backend|reference|--granularity|layers", "'layers'", "--granularity")]
    [InlineData("check|--quant|wint3", "'wint3'", "--quant")]
    [InlineData("check|--quant|mix_quant", "'mix_quant'", "--quant")]
    [InlineData("check|--quant|{", "'{'", "--quant")]
    [InlineData("check|--tier|mid", "'mid'", "--tier")]
    [InlineData("bench|--suite|nope", "'nope'", "--suite")]
    [InlineData("bench|--reps|0", "'0'", "--reps")]
    [InlineData("bench|--reps|-1", "'-1'", "--reps")]
    [InlineData("bench|--reps|abc", "'abc'", "--reps")]
    [InlineData("bench|--reps|1.5", "'1.5'", "--reps")]
    [InlineData("bench|--reps|2147483647", "'2147483647'", "out of range")]
    [InlineData("bench|--reps|2147483648", "'2147483648'", "out of range")]
    [InlineData("bench|--reps|-2147483649", "'-2147483649'", "--reps")]
    [InlineData("bench|--warmup|-1", "'-1'", "--warmup")]
    [InlineData("bench|--warmup|x", "'x'", "--warmup")]
    [InlineData("bench|--warmup|2147483647", "'2147483647'", "out of range")]
    [InlineData("bench|--families|foo", "'foo'", "--families")]
    [InlineData("bench|--families|,", "','", "--families")]
    [InlineData("bench|--torch-script|/nonexistent-ge/torch_reference.py", "/nonexistent-ge/torch_reference.py", "--torch-script")]
    [InlineData("bench|--python|", "--python", "empty")]
    [InlineData("nosuchcommand", "nosuchcommand", "nosuchcommand")]
    [InlineData("run|--nosuchswitch", "--nosuchswitch", "--nosuchswitch")]
    [InlineData("check|--preset|gpt5", "'gpt5'", "--preset")]
    [InlineData("check|--backend|tpu", "'tpu'", "--backend")]
    [InlineData("run|--backend|reference|--quant|wint3", "'wint3'", "--quant")]
    [InlineData("check|--tokens|1,x,3", "'x'", "--tokens")]
    [InlineData("check|--tokens|1,,3", "1,,3", "--tokens")]
    [InlineData("check|--tokens|0", "'0'", "--tokens")]
    [InlineData("check|--tokens|-4", "-4", "--tokens")]
    [InlineData("check|--tokens|1;2", "1;2", "--tokens")]
    [InlineData("check|--tokens|100000", "100000", "--tokens")]
    [InlineData("check|--frobnicate", "--frobnicate", "--frobnicate")]
    [InlineData("bench|--suite|", "''", "--suite")]
    [InlineData("explode", "explode", "explode")]
    public void Bad_switch_is_one_line_naming_value_and_switch(string args, string value, string source)
    {
        string outDir = Path.Combine(Path.GetTempPath(), $"ge-bad-out-{Guid.NewGuid():N}");
        var argv = args.Split('|').ToList();
        if (argv[0] == "bench") argv.AddRange(new[] { "--out", outDir, "--backend", "reference" });
        CliHarness.AssertUsageError(BadInputCli.Run(argv.ToArray()), value, source);
        Assert.False(Directory.Exists(outDir), "a rejected bench created its output directory");
    }

    [Theory]
    [InlineData("--preset")]
    [InlineData("--tokens")]
    [InlineData("--quant")]
    [InlineData("--sizes")]
    [InlineData("--backend")]
    [InlineData("--granularity")]
    public void Huge_values_are_cut_to_a_readable_prefix(string option)
    {
        string huge = option is "--tokens" or "--sizes" ? string.Concat(Enumerable.Repeat("1,", 50_000)) + "x" : new string('q', 200_000);
        var r = BadInputCli.Run("run", "--backend", "reference", option, huge);
        CliHarness.AssertUsageError(r, option);
        Assert.DoesNotContain(new string(huge[0], 200), r.Err);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("check")]
    public void Bad_input_under_json_still_has_no_stack_trace(string command)
    {
        var env = new Dictionary<string, string?> { ["FD_BLOCK_WISE_DEBUG"] = "yes" };
        CliHarness.AssertUsageError(BadInputCli.Run(env, command, "--json", "--backend", "reference"), "'yes'", "FD_BLOCK_WISE_DEBUG");
    }

    [Fact]
    public void With_debug_the_stack_trace_follows()
    {
        var r = BadInputCli.Run("check", "--preset", "nonesuch", "--debug");
        Assert.Equal(2, r.Exit);
        Assert.Contains("   at ", r.Err);
    }

    [Fact]
    public void A_closed_stderr_still_exits_2()
    {
        var err = new StringWriter();
        err.Dispose();
        int code = GraphEngine.Cli.CliApp.Run(new[] { "check", "--preset", "nonesuch" },
            GraphEngine.Hosting.CliConsole.Plain(new StringWriter(), err), new Dictionary<string, string?>());
        Assert.Equal(2, code);
        int code2 = GraphEngine.Cli.CliApp.Run(new[] { "--nosuch" },
            GraphEngine.Hosting.CliConsole.Plain(new StringWriter(), new FullWriter()), new Dictionary<string, string?>());
        Assert.Equal(2, code2);
    }

    /// <summary>A writer whose device is full.</summary>
    private sealed class FullWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => throw new IOException("No space left on device");
        public override void Write(string? value) => throw new IOException("No space left on device");
        public override void WriteLine(string? value) => throw new IOException("No space left on device");
    }
}
