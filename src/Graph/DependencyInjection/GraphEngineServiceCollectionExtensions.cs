using GraphEngine.Graph;
using GraphEngine.Graph.DependencyInjection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// In Microsoft.Extensions.DependencyInjection, as the framework's own AddXxx extensions are, so that
// `services.AddGraphEngine(...)` is found with the usings a host already has.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the engine's options and <see cref="IPrefillEngineFactory"/> in a service collection.</summary>
public static class GraphEngineServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IOptions{BlockWiseGraphOptions}"/> (and <see cref="IOptionsSnapshot{T}"/>) bound from
    /// section <see cref="EngineConfiguration.Section"/> of <paramref name="configuration"/> by
    /// <see cref="EngineConfiguration.BindOptions"/>: the same strict binding the CLI uses, so unknown keys and bad
    /// values fail with an <see cref="OptionsValidationException"/> whose message names the key and the source, Sizes
    /// is replaced rather than appended to, and "1,8" is a list. Until <see cref="GraphEngineBuilder.AddPrefillEngine"/>
    /// names the engine's token budget, sizes are checked against <see cref="PrefillEngine.MaxTokensLimit"/>.
    /// </summary>
    /// <remarks>
    /// Do not also call <c>services.Configure&lt;BlockWiseGraphOptions&gt;(section)</c>: the framework binder it
    /// registers runs after this one and appends the configured sizes to the bound list.
    /// </remarks>
    public static GraphEngineBuilder AddGraphEngine(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions();
        services.TryAddSingleton(new TokenBudget(PrefillEngine.MaxTokensLimit));
        // A closed IOptionsFactory registration wins over the open generic one AddOptions adds.
        services.Replace(ServiceDescriptor.Transient<IOptionsFactory<BlockWiseGraphOptions>>(sp => new BlockWiseGraphOptionsFactory(
            configuration, sp.GetRequiredService<TokenBudget>().MaxTokens,
            sp.GetServices<IConfigureOptions<BlockWiseGraphOptions>>(),
            sp.GetServices<IPostConfigureOptions<BlockWiseGraphOptions>>(),
            sp.GetServices<IValidateOptions<BlockWiseGraphOptions>>())));
        // By type, so that calling AddGraphEngine twice registers one validator (TryAddEnumerable refuses factories).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BlockWiseGraphOptions>, BudgetValidator>());
        return new GraphEngineBuilder(services);
    }
}

/// <summary>What <see cref="GraphEngineServiceCollectionExtensions.AddGraphEngine"/> returns, to add the engine itself.</summary>
public sealed class GraphEngineBuilder
{
    internal GraphEngineBuilder(IServiceCollection services) => Services = services;

    /// <summary>The collection the registrations go into.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Registers <see cref="IPrefillEngineFactory"/>, which builds engines of <paramref name="maxTokens"/> rows with
    /// the bound options and an <see cref="ILogger{PrefillEngine}"/> (a null logger when logging is not registered).
    /// The options are then bound against <paramref name="maxTokens"/>: default sizes above it are dropped and a
    /// configured size above it is refused, naming its source.
    /// </summary>
    public GraphEngineBuilder AddPrefillEngine(int maxTokens)
    {
        if (maxTokens < 1 || maxTokens > PrefillEngine.MaxTokensLimit)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, $"maxTokens must be in [1, {PrefillEngine.MaxTokensLimit}]");
        Services.Replace(ServiceDescriptor.Singleton(new TokenBudget(maxTokens)));
        Services.Replace(ServiceDescriptor.Singleton<IPrefillEngineFactory>(sp => new PrefillEngineFactory(
            sp.GetRequiredService<IOptions<BlockWiseGraphOptions>>().Value, maxTokens,
            sp.GetService<ILogger<PrefillEngine>>() ?? NullLogger<PrefillEngine>.Instance)));
        return this;
    }
}
