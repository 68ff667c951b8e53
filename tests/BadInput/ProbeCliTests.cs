using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>
/// The commands' own switches and settings as a hostile user gives them: every integer through the one parser (no
/// System.CommandLine type names), blank values refused instead of read as "everything" or "the default", a one-value
/// setting given as a list refused instead of read as its first child, and checks made before the device opens
/// (shown with --backend cuda on a machine without a GPU: the input's error comes first, not the missing GPU).
/// </summary>
public class ProbeCliTests
{
    [Theory]
    [InlineData("check|--jobs|x", "'x'")]
    [InlineData("check|--jobs|1.5", "'1.5'")]
    [InlineData("check|--jobs|", "''")]
    [InlineData("check|--jobs|0x4", "'0x4'")]
    [InlineData("check|--jobs|2147483648", "'2147483648'")]
    [InlineData("profile|--steps|x", "'x'")]
    [InlineData("profile|--steps|", "''")]
    [InlineData("profile|--steps|1", "'1'")]
    [InlineData("profile|--steps|2147483648", "'2147483648'")]
    [InlineData("profile|--steps|1e3", "'1e3'")]
    public void Integer_switches_share_the_one_parser(string args, string value)
    {
        var argv = args.Split('|');
        string option = argv[1];
        var r = BadInputCli.Run(argv.Concat(new[] { "--backend", "reference" }).ToArray());
        CliHarness.AssertUsageError(r, value, $"(from {option})", "expected a value in [");
        Assert.DoesNotContain("System.", r.Err);
    }

    [Theory]
    [InlineData("check|--filter|")]
    [InlineData("check|--filter|,")]
    [InlineData("check|--filter| , ")]
    [InlineData("check|--mutants|--filter|")]
    [InlineData("faults|--filter|")]
    [InlineData("faults|--filter|,,")]
    public void A_filter_that_names_nothing_is_refused_instead_of_running_everything(string args)
    {
        var r = BadInputCli.Run(args.Split('|').Concat(new[] { "--backend", "reference" }).ToArray());
        CliHarness.AssertUsageError(r, "--filter", "names no substring");
        Assert.DoesNotContain("passed", r.Out);
    }

    [Theory]
    [InlineData("")]
    [InlineData(",")]
    [InlineData("eager,,layer")]
    public void Profile_modes_with_an_empty_entry_are_refused(string modes)
    {
        CliHarness.AssertUsageError(BadInputCli.Run("profile", "--backend", "reference", "--modes", modes), "--modes", "empty entry");
    }

    [Theory]
    [InlineData("--tier")]
    [InlineData("--filter")]
    public void Long_values_of_check_switches_are_cut(string option)
    {
        string huge = new('z', 5000);
        var r = BadInputCli.Run("check", "--backend", "reference", option, huge);
        CliHarness.AssertUsageError(r, option, "'zzz", "(5000 chars)");
        Assert.DoesNotContain(new string('z', 200), r.Err);
    }

    [Theory]
    [InlineData("--quant|")]
    [InlineData("--quant|  ")]
    public void A_blank_quant_switch_is_refused(string args)
    {
        CliHarness.AssertUsageError(BadInputCli.Run(new[] { "run", "--backend", "reference" }.Concat(args.Split('|')).ToArray()),
            "quantization is empty", "--quant");
    }

    [Fact]
    public void A_blank_quant_variable_is_refused()
    {
        var env = new Dictionary<string, string?> { ["GRAPHENGINE__RUN__QUANT"] = "" };
        CliHarness.AssertUsageError(BadInputCli.Run(env, "run", "--backend", "reference"), "quantization is empty", "GRAPHENGINE__RUN__QUANT");
    }

    [Fact]
    public void A_blank_quant_in_the_file_is_refused()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ge-quant-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"GraphEngine":{"Run":{"Quant":""}}}""");
        try
        {
            CliHarness.AssertUsageError(BadInputCli.Run("run", "--backend", "reference", "--config", path), "quantization is empty", path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("GRAPHENGINE__RUN__PRESET__0", "tiny", "Preset")]
    [InlineData("GRAPHENGINE__RUN__BACKEND__0", "reference", "Backend")]
    [InlineData("GRAPHENGINE__RUN__QUANT__quantization", "wint8", "Quant")]
    [InlineData("GRAPHENGINE__RUN__MODEL__path", "/tmp", "Model")]
    public void A_one_value_setting_given_as_a_list_is_refused(string variable, string value, string key)
    {
        var env = new Dictionary<string, string?> { [variable] = value };
        // --backend on the command line would win over the variable and hide it.
        var r = key == "Backend" ? BadInputCli.Run(env, "list") : BadInputCli.Run(env, "list", "--backend", "reference");
        CliHarness.AssertUsageError(r, variable, $"{key} takes one value");
    }

    [Theory]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Sizes__x", "list")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Exclude__first", "list")]
    [InlineData("GRAPHENGINE__RUN__TOKENS__one", "run")]
    public void A_list_entry_that_is_not_numbered_is_refused(string variable, string command)
    {
        var env = new Dictionary<string, string?> { [variable] = "4" };
        CliHarness.AssertUsageError(BadInputCli.Run(env, command, "--backend", "reference"), variable, "is a list", "numbered");
    }

    [Fact]
    public void Tokens_may_still_come_as_a_list_of_variables()
    {
        var env = new Dictionary<string, string?> { ["GRAPHENGINE__RUN__TOKENS__0"] = "3", ["GRAPHENGINE__RUN__TOKENS__1"] = "5" };
        var r = BadInputCli.Run(env, "run", "--backend", "reference", "--sizes", "8");
        Assert.True(r.Exit == 0, r.Err);
    }

    [Theory]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "x", "run")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "0", "list")]
    [InlineData("FD_USE_BLOCK_WISE_CUDA_GRAPH", "yes", "soak")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__MaxSegmentLayers", "-1", "run")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Granularity", "block", "soak")]
    public void Graph_settings_are_checked_before_the_device_opens(string variable, string value, string command)
    {
        var env = new Dictionary<string, string?> { [variable] = value };
        var r = BadInputCli.Run(env, command, "--backend", "cuda");
        CliHarness.AssertUsageError(r, variable, $"'{value}'");
        Assert.DoesNotContain("GPU", r.Err);
    }

    [Fact]
    public void A_check_filter_that_selects_nothing_is_refused_before_the_device_opens()
    {
        var r = BadInputCli.Run("check", "--backend", "cuda", "--filter", "nonesuch-case");
        CliHarness.AssertUsageError(r, "'nonesuch-case'", "selects no conformance case");
        Assert.DoesNotContain("GPU", r.Err);
    }
}
