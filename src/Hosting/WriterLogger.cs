using Microsoft.Extensions.Logging;

namespace GraphEngine.Hosting;

/// <summary>
/// A synchronous logger onto the CLI's error writer. The console logger of Microsoft.Extensions.Logging
/// writes from a background thread, which interleaves with tables and summaries on stdout; this one
/// writes in order, and tests can capture it.
/// </summary>
public sealed class WriterLoggerProvider : ILoggerProvider
{
    private readonly TextWriter _writer;
    private readonly LogLevel _min;
    private readonly object _lock = new();

    /// <summary>A provider whose loggers write <paramref name="min"/> and above to <paramref name="writer"/>, one line each, under a lock.</summary>
    public WriterLoggerProvider(TextWriter writer, LogLevel min)
    {
        _writer = writer;
        _min = min;
    }

    /// <summary>A logger for <paramref name="categoryName"/>, printed by its last dotted part.</summary>
    public ILogger CreateLogger(string categoryName) => new WriterLogger(this, categoryName);
    /// <summary>Does nothing: the writer is the caller's.</summary>
    public void Dispose() { }

    private sealed class WriterLogger(WriterLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._min && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string shortCategory = category[(category.LastIndexOf('.') + 1)..];
            string line = $"{Level(logLevel)} {shortCategory}: {formatter(state, exception)}";
            lock (owner._lock)
            {
                owner._writer.WriteLine(line);
                if (exception is not null && owner._min <= LogLevel.Debug) owner._writer.WriteLine(exception);
            }
        }

        private static string Level(LogLevel l) => l switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
