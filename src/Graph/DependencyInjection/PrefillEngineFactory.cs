using GraphEngine.Kernels;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Graph.DependencyInjection;

/// <summary>
/// Builds <see cref="PrefillEngine"/>s from the container's options and logger. The device is the caller's (a process
/// opens one and may share it), and so is the engine: dispose the engine, then the device.
/// </summary>
public interface IPrefillEngineFactory
{
    /// <summary>Rows of every engine activation; the largest prefill step an engine takes.</summary>
    int MaxTokens { get; }

    /// <summary>The strictly bound options every engine gets.</summary>
    BlockWiseGraphOptions Options { get; }

    /// <summary>A new engine on <paramref name="device"/> with <see cref="MaxTokens"/> rows and <see cref="Options"/>; the caller owns and disposes it (before the device).</summary>
    PrefillEngine Create(Device device);
}

internal sealed class PrefillEngineFactory(BlockWiseGraphOptions options, int maxTokens, ILogger<PrefillEngine> logger) : IPrefillEngineFactory
{
    public int MaxTokens => maxTokens;
    public BlockWiseGraphOptions Options => options;

    public PrefillEngine Create(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return new PrefillEngine(device, options, maxTokens, logger);
    }
}

/// <summary>The engine's token budget, shared by the options binding and the engine factory so they cannot disagree.</summary>
internal sealed record TokenBudget(int MaxTokens);
