using GraphEngine.Graph;

namespace GraphEngine.Tests.Graph;

/// <summary>Changes the working directory in one test, so nothing else may run beside it.</summary>
[CollectionDefinition(nameof(WorkingDirectoryCollection), DisableParallelization = true)]
public sealed class WorkingDirectoryCollection { }

[Collection(nameof(WorkingDirectoryCollection))]
public class EngineConfigurationTests : IDisposable
{
    private const string Sizes = EngineConfiguration.Section + ":Sizes";
    private readonly string _dir = Directory.CreateTempSubdirectory("ge-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static BlockWiseGraphOptions Bind(IDictionary<string, string?>? env = null, string[]? args = null, string? json = null, int maxTokens = 2048) =>
        EngineConfiguration.BindOptions(EngineConfiguration.Build(json, args ?? Array.Empty<string>(), env ?? new Dictionary<string, string?>()), maxTokens);

    private string JsonFile(string text, string name = "graphengine.json")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Defaults_when_nothing_is_set()
    {
        var o = Bind();
        Assert.True(o.Enabled);
        Assert.False(o.Debug);
        Assert.Equal(Granularity.Segment, o.Granularity);
        Assert.Empty(o.Exclude);
        Assert.Equal(new[] { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048 }, o.Sizes);
    }

    [Fact]
    public void Default_sizes_above_max_tokens_are_left_out()
    {
        Assert.Equal(new[] { 1, 2, 4, 8, 16, 32, 64 }, Bind(maxTokens: 100).Sizes);
    }

    public static TheoryData<string, int[]> AcceptedSizes() => new()
    {
        { "1,2,4", new[] { 1, 2, 4 } },
        { " 8 , 1,\t4 ", new[] { 1, 4, 8 } },           // whitespace trimmed, sorted
        { "16,16,2,2,16", new[] { 2, 16 } },             // duplicates dropped
        { "2048", new[] { 2048 } },                      // MaxTokens itself is allowed
        { "007", new[] { 7 } },
    };

    [Theory]
    [MemberData(nameof(AcceptedSizes))]
    public void Sizes_are_trimmed_deduplicated_and_sorted(string text, int[] expected)
    {
        Assert.Equal(expected, Bind(env: new Dictionary<string, string?> { ["FD_BLOCK_WISE_CUDA_GRAPH_SIZES"] = text }).Sizes);
        Assert.Equal(expected, Bind(env: new Dictionary<string, string?> { ["GRAPHENGINE__BlockWiseCudaGraph__Sizes"] = text }).Sizes);
        Assert.Equal(expected, Bind(args: new[] { $"--{Sizes}={text}" }).Sizes);
    }

    public static TheoryData<string, string> RejectedSizes() => new()
    {
        { "1,0,4", "'0'" },
        { "1,-4", "'-4'" },
        { "1,abc", "'abc'" },
        { "1,2.5", "'2.5'" },
        { "1,,4", "empty" },
        { "1,2,", "empty" },
        { "", "empty" },
        { "   ", "empty" },
        { "1;2;4", "'1;2;4'" },
        { "1 2", "'1 2'" },
        { "4096", "'4096'" },
        { "99999999999", "'99999999999'" },
        { "+4", "'+4'" },
    };

    [Theory]
    [MemberData(nameof(RejectedSizes))]
    public void Bad_sizes_fail_naming_the_entry_and_the_variable(string text, string entry)
    {
        var fd = Assert.Throws<EngineConfigurationException>(() =>
            Bind(env: new Dictionary<string, string?> { ["FD_BLOCK_WISE_CUDA_GRAPH_SIZES"] = text }));
        Assert.Contains(entry, fd.Message);
        Assert.Contains("FD_BLOCK_WISE_CUDA_GRAPH_SIZES", fd.Message);

        var env = Assert.Throws<EngineConfigurationException>(() =>
            Bind(env: new Dictionary<string, string?> { ["GRAPHENGINE__BlockWiseCudaGraph__Sizes"] = text }));
        Assert.Contains(entry, env.Message);
        Assert.Contains("GRAPHENGINE__BlockWiseCudaGraph__Sizes", env.Message);

        var cli = Assert.Throws<EngineConfigurationException>(() => Bind(args: new[] { $"--{Sizes}={text}" }));
        Assert.Contains(entry, cli.Message);
        Assert.Contains("command-line", cli.Message);
    }

    [Fact]
    public void Size_above_max_tokens_names_max_tokens()
    {
        var e = Assert.Throws<EngineConfigurationException>(() =>
            Bind(env: new Dictionary<string, string?> { ["FD_BLOCK_WISE_CUDA_GRAPH_SIZES"] = "1,2,300" }, maxTokens: 256));
        Assert.Contains("'300'", e.Message);
        Assert.Contains("256", e.Message);
    }

    [Fact]
    public void MaxSegmentLayers_binds_from_json_and_environment_and_refuses_bad_values_with_their_source()
    {
        Assert.Equal(0, Bind().MaxSegmentLayers);
        string path = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "MaxSegmentLayers": 12 } } }""", "seg.json");
        Assert.Equal(12, Bind(json: path).MaxSegmentLayers);
        Assert.Equal(5, Bind(json: path, env: new Dictionary<string, string?> { ["GRAPHENGINE__BlockWiseCudaGraph__MaxSegmentLayers"] = "5" })
            .MaxSegmentLayers);
        var e = Assert.Throws<EngineConfigurationException>(() =>
            Bind(env: new Dictionary<string, string?> { ["GRAPHENGINE__BlockWiseCudaGraph__MaxSegmentLayers"] = "-3" }));
        Assert.Contains("'-3'", e.Message);
        Assert.Contains("GRAPHENGINE__BlockWiseCudaGraph__MaxSegmentLayers", e.Message);
        string wrong = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "MaxSegmentLayers": [4] } } }""", "segbad.json");
        var e2 = Assert.Throws<EngineConfigurationException>(() => Bind(json: wrong));
        Assert.Contains("MaxSegmentLayers", e2.Message);
    }

    [Fact]
    public void Json_file_reads_arrays_and_strings_and_names_the_key_on_error()
    {
        string path = JsonFile("""
            { "GraphEngine": { "BlockWiseCudaGraph": {
                "Enabled": false, "Sizes": [64, 8, 8, 1], "Debug": true,
                "Exclude": ["lm_head", "layers.*.moe"], "Granularity": "segment" } } }
            """);
        var o = Bind(json: path);
        Assert.False(o.Enabled);
        Assert.True(o.Debug);
        Assert.Equal(Granularity.Segment, o.Granularity);
        Assert.Equal(new[] { 1, 8, 64 }, o.Sizes);
        Assert.Equal(new[] { "lm_head", "layers.*.moe" }, o.Exclude);

        string bad = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "Sizes": [1, 0] } } }""", "bad.json");
        var e = Assert.Throws<EngineConfigurationException>(() => Bind(json: bad));
        Assert.Contains("'0'", e.Message);
        Assert.Contains("Sizes:1", e.Message);
        Assert.Contains("bad.json", e.Message);

        string empty = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "Sizes": [] } } }""", "empty.json");
        var e2 = Assert.Throws<EngineConfigurationException>(() => Bind(json: empty));
        Assert.Contains("empty", e2.Message);
        Assert.Contains("empty.json", e2.Message);

        string str = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "Sizes": "4, 2" } } }""", "str.json");
        Assert.Equal(new[] { 2, 4 }, Bind(json: str).Sizes);
    }

    [Fact]
    public void Graphengine_json_in_the_working_directory_is_read_when_no_path_is_given()
    {
        JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "Sizes": "3" } } }""");
        string cwd = Directory.GetCurrentDirectory();
        try
        {
            Directory.SetCurrentDirectory(_dir);
            Assert.Equal(new[] { 3 }, Bind().Sizes);
        }
        finally
        {
            Directory.SetCurrentDirectory(cwd);
        }
    }

    [Fact]
    public void A_given_file_that_is_missing_or_not_json_is_an_error_naming_it()
    {
        string missing = Path.Combine(_dir, "nope.json");
        var e1 = Assert.Throws<EngineConfigurationException>(() => EngineConfiguration.Build(missing, Array.Empty<string>(), new Dictionary<string, string?>()));
        Assert.Contains("nope.json", e1.Message);

        string notJson = JsonFile("Sizes = 1,2,4\n", "notjson.json");
        var e2 = Assert.Throws<EngineConfigurationException>(() => EngineConfiguration.Build(notJson, Array.Empty<string>(), new Dictionary<string, string?>()));
        Assert.Contains("notjson.json", e2.Message);
        Assert.Contains("JSON", e2.Message);

        string array = JsonFile("[1, 2, 4]", "array.json");
        var e3 = Assert.Throws<EngineConfigurationException>(() => EngineConfiguration.Build(array, Array.Empty<string>(), new Dictionary<string, string?>()));
        Assert.Contains("array.json", e3.Message);
    }

    [Fact]
    public void Priority_is_file_then_fastdeploy_then_graphengine_env_then_command_line()
    {
        string path = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "Sizes": [1, 2, 3, 4], "Enabled": true, "Debug": false } } }""");
        var env = new Dictionary<string, string?>
        {
            ["FD_BLOCK_WISE_CUDA_GRAPH_SIZES"] = "8,16",
            ["FD_USE_BLOCK_WISE_CUDA_GRAPH"] = "0",
            ["FD_BLOCK_WISE_DEBUG"] = "1",
        };
        var fd = Bind(env: env, json: path);
        Assert.Equal(new[] { 8, 16 }, fd.Sizes);         // FD_ wins over the file; the file's array does not merge in
        Assert.False(fd.Enabled);
        Assert.True(fd.Debug);

        env["GRAPHENGINE__BlockWiseCudaGraph__Sizes"] = "32";
        env["GRAPHENGINE__BlockWiseCudaGraph__Enabled"] = "true";
        var ge = Bind(env: env, json: path);
        Assert.Equal(new[] { 32 }, ge.Sizes);
        Assert.True(ge.Enabled);

        var cli = Bind(env: env, json: path, args: new[] { "--graph-sizes", "64,128", "--graph-enabled=false" });
        Assert.Equal(new[] { 64, 128 }, cli.Sizes);
        Assert.False(cli.Enabled);
    }

    [Fact]
    public void Environment_arrays_and_command_line_arrays_work()
    {
        var env = new Dictionary<string, string?>
        {
            ["GRAPHENGINE__BlockWiseCudaGraph__Sizes__0"] = "16",
            ["GRAPHENGINE__BlockWiseCudaGraph__Sizes__1"] = "4",
        };
        Assert.Equal(new[] { 4, 16 }, Bind(env: env).Sizes);
        var e = Assert.Throws<EngineConfigurationException>(() => Bind(args: new[] { $"--{Sizes}:0=4", $"--{Sizes}:1=x" }));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("Sizes:1", e.Message);
    }

    public static TheoryData<string, string, bool?> FastDeployBooleans() => new()
    {
        { "FD_USE_BLOCK_WISE_CUDA_GRAPH", "1", true },
        { "FD_USE_BLOCK_WISE_CUDA_GRAPH", " 0 ", false },
        { "FD_USE_BLOCK_WISE_CUDA_GRAPH", "true", null },     // FastDeploy's variables are 0/1 only
        { "FD_USE_BLOCK_WISE_CUDA_GRAPH", "2", null },
        { "FD_USE_BLOCK_WISE_CUDA_GRAPH", "", null },
        { "FD_BLOCK_WISE_DEBUG", "1", true },
        { "FD_BLOCK_WISE_DEBUG", "yes", null },
    };

    [Theory]
    [MemberData(nameof(FastDeployBooleans))]
    public void FastDeploy_switches_are_zero_or_one(string variable, string value, bool? expected)
    {
        var env = new Dictionary<string, string?> { [variable] = value };
        if (expected is null)
        {
            var e = Assert.Throws<EngineConfigurationException>(() => Bind(env: env));
            Assert.Contains(variable, e.Message);
            Assert.Contains($"'{value}'", e.Message);
            return;
        }
        var o = Bind(env: env);
        Assert.Equal(expected.Value, variable == "FD_BLOCK_WISE_DEBUG" ? o.Debug : o.Enabled);
    }

    [Fact]
    public void Bad_booleans_granularity_exclude_and_unknown_keys_name_their_source()
    {
        var e1 = Assert.Throws<EngineConfigurationException>(() => Bind(args: new[] { "--graph-debug=maybe" }));
        Assert.Contains("'maybe'", e1.Message);
        Assert.Contains("Debug", e1.Message);

        var e2 = Assert.Throws<EngineConfigurationException>(() =>
            Bind(env: new Dictionary<string, string?> { ["GRAPHENGINE__BlockWiseCudaGraph__Granularity"] = "block" }));
        Assert.Contains("'block'", e2.Message);
        Assert.Contains("GRAPHENGINE__BlockWiseCudaGraph__Granularity", e2.Message);

        var e3 = Assert.Throws<EngineConfigurationException>(() => Bind(args: new[] { "--graph-exclude=a,,b" }));
        Assert.Contains("empty", e3.Message);
        Assert.Contains("Exclude", e3.Message);

        string typo = JsonFile("""{ "GraphEngine": { "BlockWiseCudaGraph": { "Size": "1,2" } } }""", "typo.json");
        var e4 = Assert.Throws<EngineConfigurationException>(() => Bind(json: typo));
        Assert.Contains("'Size'", e4.Message);
        Assert.Contains("typo.json", e4.Message);

        Assert.Equal(new[] { "a", "b.*" }, Bind(args: new[] { "--graph-exclude= a , b.* ,a" }).Exclude);
        Assert.Equal(Granularity.Segment, Bind(args: new[] { "--graph-granularity", "Segment" }).Granularity);
    }

    public static TheoryData<string, string, bool> Patterns() => new()
    {
        { "lm_head", "lm_head", true },
        { "lm_head", "lm_head2", false },
        { "layers.*.moe", "layers.12.moe", true },
        { "layers.*.moe", "layers.12.mlp", false },
        { "*norm", "layers.3.input_norm", true },
        { "LAYERS.*", "layers.0", true },
        { "*", "anything", true },
        { "a*b*c", "axxbyyc", true },
        { "a*b*c", "axxbyy", false },
    };

    [Theory]
    [MemberData(nameof(Patterns))]
    public void Exclude_patterns_match_whole_names_with_star_wildcards(string pattern, string name, bool matches)
    {
        var o = new BlockWiseGraphOptions { Exclude = new[] { pattern } };
        Assert.Equal(matches ? pattern : null, o.ExcludedBy(name));
    }
}
