using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>Bad environment variables: one line naming the value and the variable, never an internal key.</summary>
public class EnvironmentTests
{
    [Theory]
    [InlineData("FD_BLOCK_WISE_DEBUG", "yes")]
    [InlineData("FD_BLOCK_WISE_DEBUG", "on")]
    [InlineData("FD_BLOCK_WISE_DEBUG", "true")]
    [InlineData("FD_BLOCK_WISE_DEBUG", "2")]
    [InlineData("FD_BLOCK_WISE_DEBUG", "")]
    [InlineData("FD_USE_BLOCK_WISE_CUDA_GRAPH", "yes")]
    [InlineData("FD_USE_BLOCK_WISE_CUDA_GRAPH", "maybe")]
    [InlineData("FD_USE_BLOCK_WISE_CUDA_GRAPH", "-1")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "0")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "-1")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "x")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "2147483648")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "1;2")]
    [InlineData("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", "1,,2")]
    [InlineData("GRAPHENGINE__RUN__PRESET", "nonesuch")]
    [InlineData("GRAPHENGINE__RUN__BACKEND", "gpu")]
    [InlineData("GRAPHENGINE__RUN__TOKENS", "0")]
    [InlineData("GRAPHENGINE__RUN__TOKENS", "2147483648")]
    [InlineData("GRAPHENGINE__RUN__DEBUG", "yes")]
    [InlineData("GRAPHENGINE__RUN__DEBUG", "on")]
    [InlineData("GRAPHENGINE__RUN__QUANT", "wint3")]
    [InlineData("GRAPHENGINE__RUN__QUANT", "{\"quantization\":\"mix_quant\",\"moe_quant_type\":\"wint4\"}")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Granularity", "block")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Enabled", "yes")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Debug", "on")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Sizes", "0")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Exclude", "a,,b")]
    public void Bad_value_names_value_and_variable(string variable, string value)
    {
        var env = new Dictionary<string, string?> { [variable] = value };
        var r = variable.EndsWith("BACKEND") ? BadInputCli.Run(env, "run") : BadInputCli.Run(env, "run", "--backend", "reference");
        CliHarness.AssertUsageError(r, variable);
        if (value.Length > 0 && !value.StartsWith('{') && !value.Contains(',')) Assert.Contains($"'{value}'", r.Err);
        Assert.DoesNotContain("GraphEngine:Run:", r.Err);
    }

    [Theory]
    [InlineData("GRAPHENGINE__RUN__PRSET", "PRSET")]
    [InlineData("GRAPHENGINE__RUN__TOKEN", "TOKEN")]
    [InlineData("GRAPHENGINE__BLOCKWISECUDAGRAPH__SIZE", "SIZE")]
    [InlineData("GRAPHENGINE__BLOCKWISECUDAGRAPH__ENABLE", "ENABLE")]
    [InlineData("GRAPHENGINE__RUNN__PRESET", "RUNN")]
    [InlineData("GRAPHENGINE__RUN", "RUN")]
    public void Unknown_key_in_any_section_is_refused_listing_the_accepted(string variable, string key)
    {
        var env = new Dictionary<string, string?> { [variable] = "tiny" };
        var r = BadInputCli.Run(env, "check", "--backend", "reference");
        CliHarness.AssertUsageError(r, variable, key);
    }

    [Theory]
    [InlineData("FD_BLOCK_WISE_DEBUG", "yes")]
    [InlineData("GRAPHENGINE__RUN__DEBUG", "on")]
    [InlineData("GRAPHENGINE__BlockWiseCudaGraph__Debug", "yes")]
    public void A_flag_the_engine_refuses_never_turns_debug_on_first(string variable, string value)
    {
        var env = new Dictionary<string, string?> { [variable] = value };
        foreach (var command in new[] { "run", "list", "check" })
            CliHarness.AssertUsageError(BadInputCli.Run(env, command, "--backend", "reference", "--json"), variable);
    }
}
