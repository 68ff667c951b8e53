using GraphEngine.Kernels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace GraphEngine.Hosting;

/// <summary>Everything a command needs, resolved from the command line, the file and the environment.</summary>
public sealed class CommandContext : IDisposable
{
    /// <summary>A context writing to <paramref name="console"/>, with the parsed <paramref name="options"/>, the merged <paramref name="config"/>, the run <paramref name="settings"/> bound from it, and the raw <paramref name="args"/>; it creates and owns a logger factory writing to the console's error writer (Debug level with --debug, else Warning).</summary>
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
    /// <summary>Where the command writes.</summary>
    public CliConsole Console { get; }
    /// <summary>The parsed command-line options.</summary>
    public CliOptions Options { get; }
    /// <summary>The merged configuration (file, environment, command line) the settings and graph options are bound from.</summary>
    public IConfigurationRoot Config { get; }
    /// <summary>The run settings bound from <see cref="Config"/>.</summary>
    public RunSettings Settings { get; }
    /// <summary>The context's logger factory (owned; disposed with the context).</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Opens the configured backend; no GPU for --backend cuda is bad input (exit 2).</summary>
    public Device OpenDevice()
    {
        try
        {
            var device = Device.Open(Settings.Backend, LoggerFactory.CreateLogger("GraphEngine.Device"));
            if (device is Kernels.Cuda.CudaDevice cuda) cuda.ResetContextOnDispose = Settings.ResetDeviceAtExit;
            return device;
        }
        catch (DeviceUnavailableException e) when (Settings.Backend == BackendPreference.Cuda)
        {
            throw new UsageException($"--backend cuda: no usable GPU ({e.Message})", e);
        }
    }

    /// <summary>Disposes the logger factory.</summary>
    public void Dispose() => LoggerFactory.Dispose();
}
