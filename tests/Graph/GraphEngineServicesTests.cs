using GraphEngine.Graph;
using GraphEngine.Graph.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GraphEngine.Tests.Graph;

/// <summary>services.AddGraphEngine(configuration): the options through DI bind exactly as EngineConfiguration.BindOptions does.</summary>
public sealed class GraphEngineServicesTests : IDisposable
{
    private const string Section = EngineConfiguration.Section;
    private readonly string _dir = Directory.CreateTempSubdirectory("ge-di-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static BlockWiseGraphOptions Options(IConfiguration config, int? maxTokens = null)
    {
        var services = new ServiceCollection();
        var builder = services.AddGraphEngine(config);
        if (maxTokens is { } m) builder.AddPrefillEngine(m);
        using var sp = services.BuildServiceProvider();
        return sp.GetRequiredService<IOptions<BlockWiseGraphOptions>>().Value;
    }

    private static IConfiguration Memory(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    private string Json(string text)
    {
        string path = Path.Combine(_dir, "graphengine.json");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Nothing_configured_gives_the_defaults()
    {
        var o = Options(Memory());
        Assert.Equal(BlockWiseGraphOptions.DefaultSizes, o.Sizes);
        Assert.True(o.Enabled);
        Assert.Equal(Granularity.Segment, o.Granularity);
        // With a token budget the default list is cut to it, as BindOptions cuts it.
        Assert.Equal(new[] { 1, 2, 4, 8, 16, 32, 64 }, Options(Memory(), maxTokens: 100).Sizes);
    }

    [Fact]
    public void A_json_list_replaces_the_default_sizes()
    {
        var config = new ConfigurationBuilder().AddJsonFile(Json("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[8,1,3]}}}""")).Build();
        Assert.Equal(new[] { 1, 3, 8 }, Options(config).Sizes);
    }

    [Fact]
    public void A_comma_string_is_a_list_not_appended_to_the_defaults()
    {
        Assert.Equal(new[] { 1, 8 }, Options(Memory(($"{Section}:Sizes", "1,8"))).Sizes);
        Assert.Equal(new[] { 1, 8 }, Options(Memory(($"{Section}:Sizes:0", "8"), ($"{Section}:Sizes:1", "1"))).Sizes);
    }

    [Fact]
    public void The_framework_binder_would_append_which_is_why_AddGraphEngine_does_not_use_it()
    {
        // The behaviour this registration exists to avoid, pinned so a framework change is noticed.
        var config = Memory(($"{Section}:Sizes:0", "3"));
        var framework = new BlockWiseGraphOptions();
        config.GetSection(Section).Bind(framework);
        Assert.Equal(BlockWiseGraphOptions.DefaultSizes.Count + 1, framework.Sizes.Count);
        Assert.Equal(new[] { 3 }, Options(config).Sizes);
    }

    [Fact]
    public void Environment_variables_reach_the_options_through_EngineConfiguration_Build()
    {
        var config = EngineConfiguration.Build(null, Array.Empty<string>(), new Dictionary<string, string?>
        {
            ["GRAPHENGINE__BlockWiseCudaGraph__Sizes"] = "2,16",
            ["FD_BLOCK_WISE_DEBUG"] = "1",
        });
        var o = Options(config, maxTokens: 256);
        Assert.Equal(new[] { 2, 16 }, o.Sizes);
        Assert.True(o.Debug);
    }

    public static TheoryData<string, string, string[]> BadValues() => new()
    {
        { "GRAPHENGINE__BlockWiseCudaGraph__Sizes", "1,x", new[] { "GRAPHENGINE__BlockWiseCudaGraph__Sizes", "'x'" } },
        { "FD_USE_BLOCK_WISE_CUDA_GRAPH", "yes", new[] { "FD_USE_BLOCK_WISE_CUDA_GRAPH", "'yes'" } },
        { "GRAPHENGINE__BlockWiseCudaGraph__Granularity", "block", new[] { "Granularity", "GRAPHENGINE__BlockWiseCudaGraph__Granularity" } },
        { "GRAPHENGINE__BlockWiseCudaGraph__Sizse", "8", new[] { "Sizse", "accepted" } },
        { "GRAPHENGINE__BlockWiseCudaGraph__Sizes", "512", new[] { "512", "GRAPHENGINE__BlockWiseCudaGraph__Sizes" } },   // above the budget
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void A_bad_value_is_an_OptionsValidationException_with_the_binders_message(string variable, string value, string[] named)
    {
        var env = new Dictionary<string, string?> { [variable] = value };
        var config = EngineConfiguration.Build(null, Array.Empty<string>(), env);
        var e = Assert.Throws<OptionsValidationException>(() => Options(config, maxTokens: 256));
        var direct = Assert.Throws<EngineConfigurationException>(() => EngineConfiguration.BindOptions(config, 256));
        Assert.Equal(direct.Message, Assert.Single(e.Failures));
        Assert.Equal(typeof(BlockWiseGraphOptions), e.OptionsType);
        foreach (var n in named) Assert.Contains(n, e.Message);
    }

    [Fact]
    public void A_bad_value_in_a_hosts_own_json_names_the_file()
    {
        string path = Json("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[1,0]}}}""");
        var config = new ConfigurationBuilder().AddJsonFile(path).Build();
        var e = Assert.Throws<OptionsValidationException>(() => Options(config));
        Assert.Contains($"{Section}:Sizes:1", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void The_validator_refuses_sizes_the_engine_would_refuse()
    {
        var v = new BlockWiseGraphOptionsValidator(maxTokens: 64);
        Assert.True(v.Validate(null, new BlockWiseGraphOptions()).Succeeded);                       // built-in list: cut, not refused
        Assert.True(v.Validate(null, new BlockWiseGraphOptions { Enabled = false, Sizes = new[] { 999 } }).Succeeded);
        var r = v.Validate(null, new BlockWiseGraphOptions { Sizes = new[] { 1, 65 } });
        Assert.Equal("graph size 65 must be in [1, MaxTokens=64]", Assert.Single(r.Failures!));
        Assert.True(v.Validate(null, new BlockWiseGraphOptions { Sizes = Array.Empty<int>() }).Failed);
    }

    [Fact]
    public void The_engine_factory_builds_an_engine_with_the_options_budget_and_a_typed_logger()
    {
        var logged = new List<string>();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new ListLoggerProvider(logged)));
        services.AddGraphEngine(Memory(($"{Section}:Sizes", "1,7"))).AddPrefillEngine(maxTokens: 19);
        using var sp = services.BuildServiceProvider();
        var factory = sp.GetRequiredService<IPrefillEngineFactory>();
        using var device = new ReferenceDevice();
        using var engine = factory.Create(device);
        Assert.Equal(19, engine.MaxTokens);
        Assert.Equal(new[] { 1, 7 }, engine.Sizes);
        Assert.Same(sp.GetRequiredService<IOptions<BlockWiseGraphOptions>>().Value, engine.Options);
        Assert.Contains(logged, l => l.StartsWith(typeof(PrefillEngine).FullName + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void The_engine_factory_works_without_logging_registered()
    {
        var services = new ServiceCollection();
        services.AddGraphEngine(Memory()).AddPrefillEngine(maxTokens: 256);
        using var sp = services.BuildServiceProvider();
        using var device = new ReferenceDevice();
        using var engine = sp.GetRequiredService<IPrefillEngineFactory>().Create(device);
        Assert.Equal(new[] { 1, 2, 4, 8, 16, 32, 64, 128, 256 }, engine.Sizes);
    }

    private sealed class ListLoggerProvider(List<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ListLogger(categoryName, lines);
        public void Dispose() { }
    }

    private sealed class ListLogger(string category, List<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (lines) lines.Add($"{category}: {formatter(state, exception)}");
        }
    }
}
