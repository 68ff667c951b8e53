using Microsoft.Extensions.Options;

namespace GraphEngine.Graph.DependencyInjection;

/// <summary>
/// Checks the finished options against the engine's token budget, after any configure steps, with the messages the
/// binder and the engine use; what the binder refuses never gets this far. It catches at startup what the engine
/// constructor would otherwise refuse later.
/// </summary>
public sealed class BlockWiseGraphOptionsValidator(int maxTokens) : IValidateOptions<BlockWiseGraphOptions>
{
    /// <summary>Fails when graphs are enabled and a configured size is outside [1, maxTokens] or no size is left; the message is the one the engine constructor would throw.</summary>
    public ValidateOptionsResult Validate(string? name, BlockWiseGraphOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        // The engine's own rules: sizes mean nothing with graphs off, and the built-in list is cut to the budget.
        if (!options.Enabled || ReferenceEquals(options.Sizes, BlockWiseGraphOptions.DefaultSizes)) return ValidateOptionsResult.Success;
        var failures = new List<string>();
        if (options.Sizes.Count == 0)
            failures.Add("graphs are enabled but options.Sizes is empty; list a size or set Enabled = false");
        foreach (int s in options.Sizes)
            if (s < 1 || s > maxTokens)
                failures.Add($"graph size {s} must be in [1, MaxTokens={maxTokens}]");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The validator AddGraphEngine registers, reading the budget AddPrefillEngine set.</summary>
internal sealed class BudgetValidator(TokenBudget budget) : IValidateOptions<BlockWiseGraphOptions>
{
    private readonly BlockWiseGraphOptionsValidator _inner = new(budget.MaxTokens);

    public ValidateOptionsResult Validate(string? name, BlockWiseGraphOptions options) => _inner.Validate(name, options);
}
