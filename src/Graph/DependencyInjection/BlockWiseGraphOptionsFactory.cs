using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace GraphEngine.Graph.DependencyInjection;

/// <summary>
/// Creates the options with <see cref="EngineConfiguration.BindOptions"/> instead of a parameterless instance plus the
/// framework binder: the options are init-only, and the framework binder appends a configured Sizes list to the
/// default one and does not read "1,8". Configure, post-configure and validate steps still run, as for any options.
/// </summary>
internal sealed class BlockWiseGraphOptionsFactory(
    IConfiguration configuration, int maxTokens,
    IEnumerable<IConfigureOptions<BlockWiseGraphOptions>> setups,
    IEnumerable<IPostConfigureOptions<BlockWiseGraphOptions>> postConfigures,
    IEnumerable<IValidateOptions<BlockWiseGraphOptions>> validations)
    : OptionsFactory<BlockWiseGraphOptions>(setups, postConfigures, validations)
{
    protected override BlockWiseGraphOptions CreateInstance(string name)
    {
        try
        {
            return EngineConfiguration.BindOptions(configuration, maxTokens);
        }
        catch (EngineConfigurationException e)
        {
            // Reported the way options report every invalid value, with the binder's message (key and source).
            throw new OptionsValidationException(name, typeof(BlockWiseGraphOptions), new[] { e.Message });
        }
    }
}
