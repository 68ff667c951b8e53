using GraphEngine.Kernels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Hosting;

/// <summary>Everything a command needs, resolved from the command line, the file and the environment.</summary>
public sealed class CommandContext : IDisposable
{
    public CommandContext(CliConsole console, CliOptions options, IConfigurationRoot config, RunSettings settings, IReadOnlyList<string>? args = null)
    {
        Args = args ?? Array.Empty<string>();
        Console = console;
        Options = options;
        Config = config;
        Settings = settings;
        // Information and up by default so the backend choice is visible; --debug adds the engine's per-step log.
        LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.SetMinimumLevel(settings.Debug ? LogLevel.Debug : LogLevel.Warning);
            b.AddProvider(new WriterLoggerProvider(console.Error, settings.Debug ? LogLevel.Debug : LogLevel.Warning));
        });
    }

    /// <summary>The command line as given (for the bench report).</summary>
    public IReadOnlyList<string> Args { get; }
    public CliConsole Console { get; }
    public CliOptions Options { get; }
    public IConfigurationRoot Config { get; }
    public RunSettings Settings { get; }
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Opens the configured backend; no GPU for --backend cuda is bad input (exit 2).</summary>
    public Device OpenDevice()
    {
        try
        {
            return Device.Open(Settings.Backend, LoggerFactory.CreateLogger("GraphEngine.Device"));
        }
        catch (DeviceUnavailableException e) when (Settings.Backend == BackendPreference.Cuda)
        {
            throw new UsageException($"--backend cuda: no usable GPU ({e.Message})", e);
        }
    }

    public void Dispose() => LoggerFactory.Dispose();
}
