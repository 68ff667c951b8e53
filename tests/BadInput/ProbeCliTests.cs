using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>
/// The commands' own switches as a hostile user gives them: every integer through the one parser (no System.CommandLine
/// type names), blank lists refused instead of read as "everything", and checks made before the device opens (shown with
/// --backend cuda on a machine without a GPU: the input's error comes first, not the missing GPU).
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

    [Fact]
    public void A_check_filter_that_selects_nothing_is_refused_before_the_device_opens()
    {
        var r = BadInputCli.Run("check", "--backend", "cuda", "--filter", "nonesuch-case");
        CliHarness.AssertUsageError(r, "'nonesuch-case'", "selects no conformance case");
        Assert.DoesNotContain("GPU", r.Err);
    }
}
